// The TypeScript blocks of docs/guide/*.md compile against the package (its source, through the
// tsconfig paths), with the decorators a NestJS app compiles with. `@vercel/functions` is not a
// dependency: its one function is declared here as the package types it.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'

const root = path.join(__dirname, '..')
const guide = path.join(root, 'docs', 'guide')
const VERCEL = path.join(guide, '__blocks__', 'vercel-functions.d.ts')

/** Each ```ts block of each guide page, as a virtual file beside the page. */
function blocks(): Map<string, string> {
  const files = new Map<string, string>()
  for (const page of readdirSync(guide).filter((f) => f.endsWith('.md'))) {
    const text = readFileSync(path.join(guide, page), 'utf8')
    let n = 0
    for (const found of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
      const code = found[1] ?? ''
      // A block that defines the app module is the file the bootstrap block imports.
      const name = /export class AppModule\b/.test(code) ? 'app.module.ts' : `${page.replace(/\.md$/, '')}-${++n}.ts`
      files.set(path.join(guide, '__blocks__', name), code)
    }
  }
  files.set(
    VERCEL,
    "declare module '@vercel/functions' {\n  export function waitUntil(promise: Promise<unknown>): void\n}\n",
  )
  return files
}

test('every TypeScript block of docs/guide compiles', () => {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(root, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'))
      },
    },
  )
  if (parsed === undefined) throw new Error('tsconfig.json could not be read')
  const options: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    // Snippets, not modules of this project: unused locals are fine.
    noUnusedLocals: false,
  }
  const files = blocks()
  expect(files.size).toBeGreaterThanOrEqual(6)
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  host.readFile = (name) => files.get(path.resolve(name)) ?? readFile(name)
  host.fileExists = (name) => files.has(path.resolve(name)) || fileExists(name)
  const blockDir = path.dirname(VERCEL)
  host.directoryExists = (name) => path.resolve(name) === blockDir || ts.sys.directoryExists(name)
  const program = ts.createProgram([...files.keys()], options, host)
  const problems = [...files.keys()].flatMap((file) =>
    ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0
      return `${path.basename(d.file?.fileName ?? file)}:${line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`
    }),
  )
  expect(problems).toEqual([])
}, 60_000)
