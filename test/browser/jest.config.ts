// `npm run test:browser`: the example shop driven by headless Chromium. Kept out of `npm test`
// (the main config ignores test/browser/) because it needs a Chromium on the machine.
import type { Config } from 'jest'
import base from '../../jest.config'

const config: Config = {
  ...base,
  rootDir: '../..',
  roots: ['<rootDir>/test/browser'],
  testPathIgnorePatterns: ['/node_modules/'],
  // One Chromium start takes a few seconds on a busy 2-core machine.
  testTimeout: 60_000,
}

export default config
