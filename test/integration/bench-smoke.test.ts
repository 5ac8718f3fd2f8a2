/**
 * Every benchmark in scripts/bench, run the way people run it (`node scripts/bench/NAME.mjs`) at its
 * smallest size: one run, tiny data. Each must exit 0, print its table (a row it always prints is
 * matched) and leave no FUSE mount behind, so a renamed route, flag, helper or status field fails
 * here and not at the next benchmark session. No number is judged: the machine running the suite is
 * shared. rclone is optional for the benches that compare with it (their table says "not
 * installed" where it is missing). scale.mjs has its own smoke test (scale-bench.test.ts); s3-blocks.mjs
 * needs the Ceph RGW of the S3 suites and is not run here.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { REPO_ROOT } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
/** One bench at its smoke size; far more than it needs on a quiet machine (seconds), for a loaded one. */
const BENCH_TIMEOUT_MS = 180_000;

interface Smoke {
  bench: string;
  args: string[];
  /** Lines of its table that any run prints. */
  expect: RegExp[];
}

const SMOKES: Smoke[] = [
  {
    bench: 'drive',
    args: ['--runs', '1', '--size', '2M', '--files', '20'],
    expect: [
      /^\| metric \| unit \| Loft \| rclone \| ceiling \| Loft\/rclone \| all runs: Loft · rclone · ceiling \|$/m,
      /^\| cold sequential read, 2 MiB, 1 MiB reads \(fresh mount, empty cache\) \| MB\/s \| [\d,]+ \| (n\/a \(rclone not installed\)|[\d,]+) \| [\d,]+ \|/m,
      /^\| `ls -l` of 20 files, repeat \| ms \| [\d.,]+ \| .* \| [\d.,]+ \|/m,
    ],
  },
  {
    bench: 'server',
    args: ['--runs', '1', '--commits', '10', '--polls', '3'],
    expect: [
      /^\| metric \| median \| runs \(all values\) \| unit \|$/m,
      /^\| commit only, sequential \(4 KiB file, block pre-uploaded\) \| [\d,]+ \| [\d,]+ \| commits\/s \|$/m,
      /^\| long-poll wake, commit sent → poll answered, p50 \| [\d.,]+ \| [\d.,]+ \| ms \|$/m,
    ],
  },
  {
    bench: 'search',
    args: ['--runs', '1', '--files', '1000'],
    expect: [
      /^SQLite: search over 1,000 files/m,
      /^8\+ chars, matches nothing \("zebra-zoo"\) +\| +0 \| +[\d.]+ \| +[\d.]+$/m,
    ],
  },
  {
    bench: 'compression',
    args: ['--runs', '1', '--mib', '2'],
    expect: [
      /^\| text \| zstd 1 \(zstd-wasm\) \| [\d.]+ \| \d+ \| \d+ \|$/m,
      /^\| random \| deflate 1 \(node zlib\) \|/m,
    ],
  },
  {
    bench: 'vfs-ops',
    args: ['20'],
    expect: [/^create median [\d.]+ p90 [\d.]+ ms$/m, /^release median [\d.]+ p90 [\d.]+ ms$/m],
  },
  {
    bench: 'chunk',
    args: ['--runs', '1', '--size', '4'],
    expect: [
      /^\| what \| median MB\/s \| runs \|$/m,
      /^\| Loft chunkFile: streaming chunk \+ hash \| \d+ \| \d+ \|$/m,
    ],
  },
  {
    bench: 'ingest',
    args: ['--blocks', '4', '--conc', '2', '--runs', '1'],
    expect: [/^4 × 1 MiB, 2 in flight, median of 1: \d+ MB\/s; per GiB: server cpu [\d.]+ s/m],
  },
  {
    bench: 'smallfiles',
    args: [
      '--runs',
      '1',
      '--only',
      'ext4,loft,rclone',
      '--workloads',
      'git,cp,big',
      '--git-files',
      '20',
      '--big',
      '2M',
    ],
    expect: [
      /^\| workload \(s, median of 1\) \| ext4 \| Loft: returns \| Loft: all on the server \| rclone: returns \| rclone: all on the server \|$/m,
      /^\| `git clone` of a local repository \(20 files\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| (not installed|[\d.]+) \| (not installed|[\d.]+) \|$/m,
      /^\| `cp -r` of 1,000 × 4 KiB files \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/m,
    ],
  },
  {
    bench: 'batch',
    args: ['--runs', '1', '--files', '20', '--batch', '10'],
    expect: [/^\| single, sequential +\| +\d+ \| +\d+ \|/m, /^\| batch of 10, inline +\|/m],
  },
  {
    bench: 'links',
    args: ['--runs', '1', '--mib', '2', '--commits', '10'],
    expect: [/^link: median [\d.]+ \(runs: [\d.]+\)$/m, /^commitQuota: median [\d.]+/m],
  },
  {
    bench: 'meta',
    args: ['--runs', '1', '--commits', '20', '--concurrency', '1'],
    expect: [/^sqlite +1 +\d+ +\d+ +[\d.]+ +[\d.]+$/m, /^postgres +1 +\d+ +\d+ +[\d.]+ +[\d.]+$/m],
  },
  {
    bench: 'content-search',
    args: ['--runs', '1', '--files', '50', '--kb', '4'],
    expect: [/^sqlite: indexed 50 files/m, /^matches nothing \(no_such_thing\) +\| +0 \|/m],
  },
  {
    bench: 'check',
    args: ['--files', '100', '--per-folder', '50', '--runs', '1'],
    expect: [/^\| loft check, running mount \| \d+ \|$/m, /^in sync: true$/m],
  },
  {
    bench: 'web',
    args: ['--runs', '1', '--entries', '50'],
    expect: [/^click → first screen painted: +median \d+ ms/m],
  },
  {
    bench: 'sync',
    args: ['--runs', '1', '--changes', '5', '--only', 'loft'],
    expect: [
      /^\| metric \(ms\) \| Loft \| rclone \| floor \| bar \(issue 5\) \| met\? \|$/m,
      /^\| close on A → visible on B, all changes, median \| [\d.,]+ \|/m,
    ],
  },
  {
    bench: 'write',
    args: ['--runs', '1', '--size', '16M', '--files', '1', '--only', 'loft'],
    expect: [
      /^\| metric \| Loft \| rclone \| ceiling \| bar \| met\? \|$/m,
      /^\| 1\. sequential write, 16\.00 MiB, 1 MiB writes \+ fsync, open → close \(MB\/s\) \| \d+ \|/m,
    ],
  },
  {
    bench: 'gc',
    args: [
      '--runs',
      '1',
      '--only',
      'gc-latency',
      '--files',
      '100',
      '--nodes',
      '1000',
      '--per-folder',
      '50',
      '--seconds',
      '1',
    ],
    expect: [/^### gc-latency: 100 files/m, /^\| no GC \(`--gc-interval 0`\): p50 \| [\d.]+ \|/m],
  },
];

/** FUSE mounts left below the OS temp dir by a bench (its work dirs are loft-bench-NAME-*). */
const leftMounts = (bench: string): string[] =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.includes(`/loft-bench-${bench}-`));

for (const { bench, args, expect } of SMOKES) {
  t.test(`${bench} bench at its smoke size`, async (t) => {
    const began = performance.now();
    const { stdout } = await execFileP(
      process.execPath,
      [path.join(REPO_ROOT, 'scripts', 'bench', `${bench}.mjs`), ...args],
      { timeout: BENCH_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
    );
    t.comment(`${bench}: ${((performance.now() - began) / 1000).toFixed(1)} s`);
    for (const row of expect) t.match(stdout, row);
    t.same(leftMounts(bench), [], 'no mount left behind');
  });
}
