/**
 * Smoke runs (test/helpers/bench-smoke.ts) of the benches that write through real mounts (smallfiles, check, sync, write).
 */
import t from 'tap';
import { smokeBench, type Smoke } from '../helpers/bench-smoke.js';

const SMOKES: Smoke[] = [
  {
    bench: 'smallfiles',
    args: [
      '--runs',
      '1',
      // Not rclone: its mount hung a `git clone` past the smoke's timeout on a loaded machine
      // (rclone's own code; lib/rclone.ts is smoked by the drive bench).
      '--only',
      'ext4,loft',
      '--workloads',
      'git,cp,big',
      '--git-files',
      '20',
      '--big',
      '2M',
      '--cp-files',
      '50',
    ],
    expect: [
      /^\| workload \(s, median of 1\) \| ext4 \| Loft: returns \| Loft: all on the server \| rclone: returns \| rclone: all on the server \|$/m,
      /^\| `git clone` of a local repository \(20 files\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| (—|not installed) \| (—|not installed) \|$/m,
      /^\| `cp -r` of 50 × 4 KiB files \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/m,
    ],
  },
  {
    bench: 'check',
    args: ['--files', '100', '--per-folder', '50', '--runs', '1'],
    expect: [/^\| loft check, running mount \| \d+ \|$/m, /^in sync: true$/m],
  },
  {
    bench: 'sync',
    args: ['--runs', '1', '--changes', '5', '--only', 'loft,shared'],
    expect: [
      /^\| metric \(ms\) \| Loft \| Loft, shared folder \| rclone \| floor \| bar \(issues 5, 13\) \| met\? \|$/m,
      /^\| close on A → visible on B, all changes, median \| [\d.,]+ \| [\d.,]+ \|/m,
    ],
  },
  {
    bench: 'write',
    args: ['--runs', '1', '--size', '16M', '--files', '1', '--prepend', '2M', '--only', 'loft,ceiling'],
    expect: [
      /^\| metric \| Loft \| rclone \| ceiling \| bar \| met\? \|$/m,
      /^\| 1\. sequential write, 16\.00 MiB, 1 MiB writes \+ fsync, open → close \(MB\/s\) \| \d+ \| — \| \d+ \|/m,
      /^\| 3\. 1 byte prepended to a committed 2\.00 MiB file \(rewritten from scratch\): bytes uploaded \| [\d.]+ /m,
    ],
  },
];

for (const smoke of SMOKES) t.test(`${smoke.bench} bench at its smoke size`, (t) => smokeBench(t, smoke));
