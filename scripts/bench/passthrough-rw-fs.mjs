#!/usr/bin/env node
// scripts/bench/passthrough-rw-fs.ts, compiled into dist/ by `npx tsc -p .` (lib/shim.mjs).
import { runCompiled } from './lib/shim.mjs';
await runCompiled('passthrough-rw-fs');
