/**
 * Smoke runs (test/helpers/bench-smoke.ts) of the drive read benchmark (loft mount, the passthrough ceiling; rclone where installed).
 */
import t from 'tap';
import { smokeBench, type Smoke } from '../helpers/bench-smoke.js';

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
    // --parts a: the first 4 KiB alone (the rows of the other mounts read n/a).
    bench: 'drive',
    args: ['--runs', '1', '--size', '2M', '--files', '20', '--only', 'loft', '--parts', 'a'],
    expect: [
      /^\| first 4 KiB at offset \d+ KiB of a cold file \(open \+ read\) \| ms \| [\d.,]+ \| — \|/m,
      /^\| cold sequential read, 2 MiB, 1 MiB reads \(fresh mount, empty cache\) \| MB\/s \| n\/a \|/m,
    ],
  },
];

for (const smoke of SMOKES) t.test(`${smoke.bench} bench at its smoke size`, (t) => smokeBench(t, smoke));
