// Every relative link and image in README.md, CONTRIBUTING.md and docs/ points at a file or folder
// that exists in the repository, and every #anchor at a heading of its page, with the anchor GitHub
// computes for it. External links (https:, mailto:) are not fetched.
import { existsSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { CONFIG_ERROR_CODES, transactionaleTouchpoint, type TouchpointConfigError } from '../../src'
import { errorDocs } from '../../src/errors'
import { anchorsOf, docFiles, githubSlug, linksOf, readDoc, ROOT } from './markdown'

const EXTERNAL = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i

/** What is wrong with one link, or undefined when it resolves. */
export function brokenLink(file: string, target: string): string | undefined {
  if (EXTERNAL.test(target)) return undefined
  const [pathPart = '', anchor] = target.split('#', 2)
  const resolved = pathPart === '' ? path.join(ROOT, file) : path.join(ROOT, path.dirname(file), decodeURI(pathPart))
  if (!resolved.startsWith(ROOT)) return `${target}: outside the repository`
  if (!existsSync(resolved)) return `${target}: no such file`
  if (anchor === undefined) return undefined
  if (statSync(resolved).isDirectory() || !resolved.endsWith('.md'))
    return `${target}: an anchor into a non-Markdown file`
  const anchors = anchorsOf(readDoc(path.relative(ROOT, resolved)))
  return anchors.has(decodeURIComponent(anchor)) ? undefined : `${target}: no heading with that anchor`
}

const files = docFiles()

test('the docs tests cover README.md, CONTRIBUTING.md and every page of docs/', () => {
  expect(files).toEqual(
    expect.arrayContaining(['README.md', 'CONTRIBUTING.md', 'docs/README.md', 'docs/troubleshooting.md']),
  )
})

test.each(files)('every relative link in %s resolves', (file) => {
  const links = linksOf(file, readDoc(file))
  const broken = links.flatMap(({ line, target }) => {
    const problem = brokenLink(file, target)
    return problem === undefined ? [] : [`${file}:${line}: ${problem}`]
  })
  expect(broken).toEqual([])
})

test('every page of docs/ is linked from somewhere', () => {
  const linked = new Set<string>()
  for (const file of files) {
    for (const { target } of linksOf(file, readDoc(file))) {
      if (EXTERNAL.test(target)) continue
      const pathPart = target.split('#')[0] ?? ''
      if (pathPart !== '') linked.add(path.posix.normalize(path.posix.join(path.posix.dirname(file), pathPart)))
    }
  }
  const orphans = files.filter(
    (file) => file.startsWith('docs/') && !linked.has(file) && !linked.has(path.posix.dirname(file)),
  )
  expect(orphans).toEqual([])
})

test('every image in docs/ is shown somewhere', () => {
  const images = readdirSync(path.join(ROOT, 'docs')).filter((name) => /\.(?:svg|png)$/.test(name))
  expect(images.length).toBeGreaterThan(0)
  const shown = new Set(
    files.flatMap((file) =>
      linksOf(file, readDoc(file)).map(({ target }) =>
        path.posix.normalize(path.posix.join(path.posix.dirname(file), target)),
      ),
    ),
  )
  expect(images.filter((image) => !shown.has(`docs/${image}`))).toEqual([])
})

test('anchors are computed as GitHub computes them', () => {
  expect(githubSlug('ERR_TOUCHPOINT_API_KEY')).toBe('err_touchpoint_api_key')
  expect(githubSlug('Post/Redirect/Get')).toBe('postredirectget')
  expect(githubSlug("Adaptive concurrency: `'auto'` against a fixed 8")).toBe(
    'adaptive-concurrency-auto-against-a-fixed-8',
  )
  expect(githubSlug('An app that ends with `process.exit()`')).toBe('an-app-that-ends-with-processexit')
  expect(githubSlug('The Redis store and `runWorker`')).toBe('the-redis-store-and-runworker')
  expect(anchorsOf('# A\n\n## Options\n\n```sh\n# not a heading\n```\n\n## Options\n')).toEqual(
    new Set(['a', 'options', 'options-1']),
  )
})

test('each line of a configuration error names the section of its code, and that section exists', () => {
  for (const code of Object.values(CONFIG_ERROR_CODES)) {
    expect([code, brokenLink('README.md', errorDocs(code))]).toEqual([code, undefined])
  }
  let message = ''
  try {
    transactionaleTouchpoint({ apiKey: '', route: 'checkout' })
  } catch (error) {
    message = (error as TouchpointConfigError).message
  }
  expect(message).toContain('ERR_TOUCHPOINT_API_KEY (apiKey): ')
  expect(message).toContain('(see docs/reference/errors.md#err_touchpoint_api_key)')
  expect(message).toContain('(see docs/reference/errors.md#err_touchpoint_route)')
})
