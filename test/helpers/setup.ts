// Every test file fails on an unhandled promise rejection or an uncaught exception: the package
// fires work in the background and must never leak one.
const leaks: unknown[] = []
const onLeak = (reason: unknown): void => {
  leaks.push(reason)
}

beforeAll(() => {
  process.on('unhandledRejection', onLeak)
  process.on('uncaughtException', onLeak)
})

afterAll(() => {
  process.off('unhandledRejection', onLeak)
  process.off('uncaughtException', onLeak)
  expect(leaks).toEqual([])
})
