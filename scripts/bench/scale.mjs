#!/usr/bin/env node
// scripts/bench/scale.ts, compiled into dist/ by `npx tsc -p .` (lib/shim.mjs).
import { runCompiled } from './lib/shim.mjs';
await runCompiled('scale');
