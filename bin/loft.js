#!/usr/bin/env node
// Entry point of the `loft` command; the compiled CLI lives in dist/ (run `npm run build`).
import('../dist/src/cli/main.js').then(
  (m) => m.main(process.argv),
  (err) => {
    process.stderr.write(`loft: cannot load the compiled CLI (${err.message}); run "npm run build" first\n`);
    process.exit(2);
  },
);
