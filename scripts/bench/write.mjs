#!/usr/bin/env node
// scripts/bench/write.ts, compiled into dist/ by `npx tsc -p .` (lib/shim.mjs).
import { runCompiled } from './lib/shim.mjs';
await runCompiled('write');
