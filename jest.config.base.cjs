// Shared jest config: TypeScript through @swc/jest (to CommonJS), workspace packages
// mapped to their sources so tests never need a build of the package under test.
const path = require('node:path');

const root = __dirname;

/** @param {string} dir the package directory (pass __dirname) */
module.exports = function config(dir, overrides = {}) {
  return {
    rootDir: dir,
    testEnvironment: 'node',
    testMatch: ['<rootDir>/src/**/*.test.ts'],
    transform: {
      '^.+\\.(t|j)sx?$': [
        '@swc/jest',
        {
          jsc: {
            parser: { syntax: 'typescript' },
            target: 'es2022',
            transform: { useDefineForClassFields: true },
          },
          module: { type: 'commonjs' },
        },
      ],
    },
    moduleNameMapper: {
      '^@proxy/([a-z0-9-]+)$': path.join(root, 'packages/$1/src/index.ts'),
      '^(\\.{1,2}/.*)\\.js$': '$1',
    },
    testTimeout: 60_000,
    ...overrides,
  };
};
