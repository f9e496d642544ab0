// jest.config.ts is loaded by ts-node; tsc checks it as part of `npm test`.
import { createDefaultEsmPreset, type JestConfigWithTsJest } from 'ts-jest';

const config: JestConfigWithTsJest = {
  ...createDefaultEsmPreset({ tsconfig: 'tsconfig.json' }),
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Relative ESM imports carry a .js suffix; map them back to the .ts sources.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  // Integration tests start real mariadbd and s3rver processes; they are slow but bounded.
  testTimeout: 300_000,
  // Two cores: integration suites each run their own servers, so run two files at once at most.
  maxWorkers: 2,
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  // One temp directory per run, removed at the end whatever the outcome (test/global-setup.ts).
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
};

export default config;
