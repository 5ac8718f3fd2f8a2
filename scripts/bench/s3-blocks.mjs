#!/usr/bin/env node
// scripts/bench/s3-blocks.ts, compiled into dist/ by `npx tsc -p .` (lib/shim.mjs).
import { runCompiled } from './lib/shim.mjs';
await runCompiled('s3-blocks');
