import type { Config } from 'jest'

const config: Config = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // The browser tests need Chromium: `npm run test:browser` runs them (test/browser/jest.config.ts).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/browser/'],
  setupFilesAfterEnv: ['<rootDir>/test/helpers/setup.ts'],
  // The example app imports the package by name, as a shop would; in tests that name is the source.
  moduleNameMapper: {
    '^express-transactionale$': '<rootDir>/src/index.ts',
    '^express-transactionale/testing$': '<rootDir>/src/testing/fake-api.ts',
    '^express-transactionale/sqlite$': '<rootDir>/src/sqlite.ts',
    '^express-transactionale/redis$': '<rootDir>/src/redis.ts',
    '^express-transactionale/metrics$': '<rootDir>/src/metrics.ts',
    '^express-transactionale/nest$': '<rootDir>/src/nest.ts',
  },
  testTimeout: 20_000,
}

export default config
