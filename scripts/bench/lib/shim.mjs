// The benchmarks are TypeScript (scripts/bench/*.ts), compiled by `npx tsc -p .` into
// dist/scripts/bench/; each scripts/bench/NAME.mjs is a shim that runs the compiled NAME.js, so
// `node scripts/bench/NAME.mjs [flags]` keeps working.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Imports dist/scripts/bench/NAME.js (which runs the bench), or says how to build it. */
export async function runCompiled(name) {
  const compiled = path.join(ROOT, 'dist', 'scripts', 'bench', `${name}.js`);
  if (!fs.existsSync(compiled)) {
    process.stderr.write(`${name} bench: ${compiled} is missing: build it with \`npx tsc -p .\`\n`);
    process.exit(2);
  }
  await import(pathToFileURL(compiled).href);
}
