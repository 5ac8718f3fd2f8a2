#!/usr/bin/env node
// scripts/bench/vfs-ops.ts, compiled into dist/ by `npx tsc -p .` (lib/shim.mjs).
import { runCompiled } from './lib/shim.mjs';
await runCompiled('vfs-ops');
