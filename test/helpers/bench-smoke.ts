/**
 * The benchmarks' smoke runs (test/integration/bench-smoke-*.test.ts): a bench in scripts/bench, run the
 * way people run it (`node scripts/bench/NAME.mjs`) at its smallest size: one run, tiny data. It must
 * exit 0, print its table (rows it always prints are matched) and leave no FUSE mount behind, so a
 * renamed route, flag, helper or status field fails the suite and not the next benchmark session. No
 * number is judged: the machine running the suite is shared. rclone is optional for the benches that
 * compare with it (their tables say "not installed" where it is missing). The benches are split over
 * a few files so that each file stays well inside tap's per-file timeout on a loaded machine.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { REPO_ROOT } from './server-process.js';

const execFileP = promisify(execFile);
/** One bench at its smoke size: seconds on a quiet machine; far more for a loaded one. */
const BENCH_TIMEOUT_MS = 300_000;

export interface Smoke {
  bench: string;
  args: string[];
  /** Lines of its table that any run prints. */
  expect: RegExp[];
}

/** FUSE mounts left below `dir` (/proc/mounts; other sessions' benches may run beside this one). */
const mountsBelow = (dir: string): string[] =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === dir || m.startsWith(`${dir}/`));

export async function smokeBench(t: Test, { bench, args, expect }: Smoke): Promise<void> {
  const began = performance.now();
  const { stdout, stderr } = await execFileP(
    process.execPath,
    [path.join(REPO_ROOT, 'scripts', 'bench', `${bench}.mjs`), ...args],
    {
      timeout: BENCH_TIMEOUT_MS,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  t.comment(`${bench}: ${((performance.now() - began) / 1000).toFixed(1)} s`);
  for (const row of expect) t.match(stdout, row);
  // Every bench says where it worked (scripts/bench/lib/main.ts), except the few still in JavaScript.
  const work = /bench: work dir ([^\s;]+)/.exec(stderr)?.[1];
  if (work) t.same(mountsBelow(work), [], 'no mount left behind');
}
