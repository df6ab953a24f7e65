// Every TypeScript example of the documentation (```ts and ```typescript blocks of README.md,
// CONTRIBUTING.md and docs/) compiles against the package as it is: each block is written to a
// temporary directory as a module of its own, `express-transactionale` and its subpaths are mapped to
// the source, and one TypeScript program checks them all with the project's strict settings. A block
// that is a fragment on purpose says so with `<!-- not-typechecked: why -->` just before its fence.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { codeBlocks, docFiles, readDoc, ROOT, type CodeBlock } from './markdown'

/**
 * What the examples may use without declaring it: the shop around them. An example that needs more
 * declares it itself, where the reader sees it.
 */
const DOC_GLOBALS = `
import type { Server } from 'node:http'
import type { Express } from 'express'
import type { Logger } from 'pino'
import type { TouchpointMiddleware, transactionaleTouchpoint as factory } from 'express-transactionale'

declare global {
  /** The shop's Express app. */
  const app: Express
  /** The shop's HTTP server (what app.listen() returned). */
  const server: Server
  /** The shop's pino logger. */
  const logger: Logger
  /** The Transactionale API key (process.env.TRANSACTIONALE_API_KEY). */
  const apiKey: string
  /** The middleware the shop created with transactionaleTouchpoint(). */
  const touchpoint: TouchpointMiddleware
  /** The factory, for one-line examples of an option (longer examples import it). */
  const transactionaleTouchpoint: typeof factory
  /** An order as the shop's own code returns it. */
  interface ShopOrder {
    id: string
    email: string
    firstName: string
    lastName?: string
    country: string
    zip: string
    total: number
    marketingConsent: boolean
  }
  /** The shop's own order creation. */
  function createOrder(body: unknown): Promise<ShopOrder>
}
`

/** Vercel's helper, as the serverless guide imports it (not a dependency of the package). */
const VERCEL_FUNCTIONS = `
declare module '@vercel/functions' {
  export function waitUntil(promise: Promise<unknown>): void
}
`

/** The project's compiler options, with the package's entry points mapped to the source. */
function compilerOptions(): ts.CompilerOptions {
  const configPath = path.join(ROOT, 'tsconfig.json')
  const read = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file)) as { config: unknown }
  const { options } = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, configPath)
  // Decorators as a NestJS app compiles them (the NestJS guide).
  return {
    ...options,
    noEmit: true,
    declaration: false,
    noUnusedLocals: false,
    baseUrl: ROOT,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
  }
}

const TYPESCRIPT = new Set(['ts', 'typescript'])

export function typecheckBlocks(blocks: readonly CodeBlock[]): string[] {
  // Inside the repository, so that the examples' imports (express, pino …) resolve from its node_modules.
  const parent = path.join(ROOT, '.docs-blocks')
  mkdirSync(parent, { recursive: true })
  const dir = mkdtempSync(path.join(parent, 'run-'))
  try {
    // ES modules, so that examples may use top-level await.
    writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n')
    writeFileSync(path.join(dir, 'doc-globals.d.ts'), DOC_GLOBALS)
    writeFileSync(path.join(dir, 'vercel-functions.d.ts'), VERCEL_FUNCTIONS)
    const names = new Map<string, CodeBlock>()
    blocks.forEach((block, i) => {
      // A block that defines a NestJS app module is the file a bootstrap block imports.
      const name = /export class AppModule\b/.test(block.code) ? 'app.module' : `block-${i}`
      const file = path.join(dir, `${name}.ts`)
      // `export {}` makes every block a module, so that two blocks' names never clash.
      writeFileSync(file, `${block.code}\nexport {}\n`)
      names.set(file, block)
    })
    const declarations = ['doc-globals.d.ts', 'vercel-functions.d.ts'].map((name) => path.join(dir, name))
    const program = ts.createProgram([...names.keys(), ...declarations], compilerOptions())
    const diagnostics = ts.getPreEmitDiagnostics(program)
    return diagnostics.map((d) => {
      const block = d.file === undefined ? undefined : names.get(path.resolve(d.file.fileName))
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
      if (d.file === undefined || d.start === undefined) return message
      const { line } = d.file.getLineAndCharacterOfPosition(d.start)
      const where = block === undefined ? `${d.file.fileName}:${line + 1}` : `${block.file}:${block.line + 1 + line}`
      return `${where}: ${message}`
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const all = docFiles().flatMap((file) => codeBlocks(file, readDoc(file)))
const typescriptBlocks = all.filter((block) => TYPESCRIPT.has(block.lang))

test('every TypeScript example in the docs compiles against the package', () => {
  const checked = typescriptBlocks.filter((block) => !block.skipped)
  expect(checked.length).toBeGreaterThan(40)
  expect(typecheckBlocks(checked)).toEqual([])
}, 120_000)

test('few examples are left out of the check, and each says why', () => {
  const skipped = typescriptBlocks.filter((block) => block.skipped)
  expect(skipped.length).toBeLessThanOrEqual(5)
  for (const block of skipped) {
    const marker = readDoc(block.file)
      .split('\n')
      .slice(0, block.line - 1)
      .reverse()
      .find((line) => line.trim() !== '')
    expect(marker).toMatch(/<!--\s*not-typechecked:\s*\S.*-->/)
  }
})

test('every code block says its language', () => {
  expect(all.filter((block) => block.lang === '').map((block) => `${block.file}:${block.line}`)).toEqual([])
})
