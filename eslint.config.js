// ESLint flat config: typescript-eslint's recommended rules over src/ and test/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Benchmarks still in plain JavaScript (the rest are scripts/bench/*.ts, linted like src/; their
// .mjs files are shims that run the compiled bench). Delete a name when its bench becomes TypeScript.
const BENCH_NOT_YET_TS = ['content-stall'].map((name) => `scripts/bench/${name}.mjs`);

export default tseslint.config(
  { ignores: ['dist/', '.dist-*/', 'node_modules/', '.tap/', ...BENCH_NOT_YET_TS] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['bin/**/*.js', 'scripts/**/*.js', 'scripts/**/*.mjs', 'native/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // Loft's fork of fuse-native (native/fuse-native/README.md): CommonJS, as upstream wrote it.
    files: ['native/fuse-native/**/*.js'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: Object.fromEntries(
        ['require', 'module', '__dirname', 'process', 'Buffer', 'console', 'setTimeout', 'clearTimeout'].map(
          (g) => [g, 'readonly'],
        ),
      ),
    },
    rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/no-this-alias': 'off' },
  },
  {
    // The web page's modules (web/) run in the browser.
    files: ['web/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'history',
          'performance',
          'requestAnimationFrame',
          'fetch',
          'TextDecoder',
          'AbortController',
          'setTimeout',
          'clearTimeout',
          'crypto',
          'WebAssembly',
          'Intl',
          'URL',
          'navigator',
        ].map((g) => [g, 'readonly']),
      ),
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // A module over 600 lines holds more than one concept (issue 12): split it, do not squeeze it.
    files: ['src/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 600, skipBlankLines: false, skipComments: false }] },
  },
);
