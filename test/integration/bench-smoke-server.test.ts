/**
 * Smoke runs (test/helpers/bench-smoke.ts) of the benches that drive a real `loft serve` over loopback HTTP.
 */
import t from 'tap';
import { smokeBench, type Smoke } from '../helpers/bench-smoke.js';

const SMOKES: Smoke[] = [
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
    bench: 'ingest',
    args: ['--blocks', '4', '--conc', '2', '--runs', '1'],
    expect: [/^4 × 1 MiB, 2 in flight, median of 1: \d+ MB\/s; per GiB: server cpu [\d.]+ s/m],
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
    bench: 'web',
    args: ['--runs', '1', '--entries', '50'],
    expect: [/^click → first screen painted: +median \d+ ms/m],
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

for (const smoke of SMOKES) t.test(`${smoke.bench} bench at its smoke size`, (t) => smokeBench(t, smoke));
