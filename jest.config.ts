import type { Config } from 'jest'

const config: Config = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  setupFilesAfterEnv: ['<rootDir>/test/helpers/setup.ts'],
  // The example app imports the package by name, as a shop would; in tests that name is the source.
  moduleNameMapper: {
    '^express-transactionale$': '<rootDir>/src/index.ts',
    '^express-transactionale/testing$': '<rootDir>/src/testing/fake-api.ts',
  },
  testTimeout: 20_000,
}

export default config
