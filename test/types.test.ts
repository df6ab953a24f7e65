// The type tests under test/types/ compile with the project's compiler options, every
// `@ts-expect-error` there is needed, and each silences an error that names the field its comment names.
import path from 'node:path'
import ts from 'typescript'

const root = path.join(__dirname, '..')
const file = path.join(__dirname, 'types', 'mapper.ts')

function compilerOptions(): ts.CompilerOptions {
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
  return { ...parsed.options, noEmit: true }
}

/** Type-checks `source` as if it were `file`; returns its diagnostics as "line: text". */
function check(source: string): string[] {
  const options = compilerOptions()
  const host = ts.createCompilerHost(options)
  const readFile = host.readFile.bind(host)
  host.readFile = (name) => (path.resolve(name) === file ? source : readFile(name))
  const program = ts.createProgram([file], options, host)
  const sourceFile = program.getSourceFile(file)
  return ts.getPreEmitDiagnostics(program, sourceFile).map((d) => {
    const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0
    return `${line}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`
  })
}

const source = ts.sys.readFile(file) ?? ''

test('test/types/mapper.ts compiles: valid mappers pass, and every @ts-expect-error is needed', () => {
  expect(check(source)).toEqual([])
})

test('each @ts-expect-error silences an error about the misspelt field it names', () => {
  const lines = source.split('\n')
  const expected = lines.flatMap((text, i) => {
    const found = /@ts-expect-error (\w+):/.exec(text)
    return found ? [{ directive: i + 1, field: found[1] ?? '' }] : []
  })
  expect(expected.length).toBeGreaterThanOrEqual(6)
  // Without the directives, the same lines must fail, each naming its field.
  const diagnostics = check(source.replace(/\/\/ @ts-expect-error/g, '// expect-error'))
  for (const { directive, field } of expected) {
    const about = diagnostics.filter((d) => {
      const line = Number(d.slice(0, d.indexOf(':')))
      // The type text names the field ('countyr' is not a field of Customer; a misspelt required
      // field shows as the type that lacks the real one, `{ frstName: string; … }`).
      return line > directive && line <= directive + 5 && new RegExp(`\\b${field}\\b`).test(d)
    })
    expect({ field, about: about.length > 0 }).toEqual({ field, about: true })
  }
  expect(diagnostics.join('\n')).toContain('is not a field of Customer')
}, 60_000)
