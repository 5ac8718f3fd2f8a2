/**
 * scripts/bench/scale.mjs at its --smoke size (10,000 files, 5 devices, 1 and 2 servers): the
 * bench still runs end to end against this code (a renamed route, table or helper fails here, not
 * at the next benchmark session) and prints every row for both engines. No number is judged: the
 * machine running the suite is shared.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { REPO_ROOT } from '../helpers/server-process.js';

const execFileP = promisify(execFile);

t.test('the scale bench runs at its smoke size', async (t) => {
  const began = performance.now();
  const { stdout } = await execFileP(
    process.execPath,
    [path.join(REPO_ROOT, 'scripts', 'bench', 'scale.mjs'), '--smoke', '--json'],
    { timeout: 540_000, maxBuffer: 16 * 1024 * 1024 },
  );
  t.comment(`smoke bench: ${Math.round((performance.now() - began) / 1000)} s`);
  t.match(stdout, /^\| \| sqlite \| postgres \|$/m, 'both engines side by side');
  for (const row of [
    /^\| list a folder of 1,000 \| [\d.]+ ms \| [\d.]+ ms \|$/m,
    /^\| commit \(one new file, sequential\) \| [\d.]+ ms \| [\d.]+ ms \|$/m,
    /^\| first mount's pull .* \| [\d.]+ s \| [\d.]+ s \|$/m,
    /^\| wake-up of 5 devices, p50 \| [\d.]+ ms \| [\d.]+ ms \|$/m,
    /^\| wake-up of 5 devices, p99 \| [\d.]+ ms \| [\d.]+ ms \|$/m,
    /^\| 1 \| \d+ \|$/m,
    /^\| 2 \| \d+ \|$/m,
  ])
    t.match(stdout, row);
  const json = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    results: Record<string, { wake: number[] }>;
    throughput: Record<string, number>;
  };
  t.equal(json.results.sqlite!.wake.length, 5 * 2, 'every device woke for every commit (SQLite)');
  t.equal(json.results.postgres!.wake.length, 5 * 2, 'and on PostgreSQL');
  t.ok(json.throughput['2']! > 0, 'commits went through two servers');
});
