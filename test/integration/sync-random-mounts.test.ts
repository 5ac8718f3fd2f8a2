/**
 * Randomized multi-device sync through real mounts (issue 12 item 6): three `loft mount` processes
 * and a real server, driven by a seeded schedule of syscalls on the mountpoints, offline periods,
 * kill -9 and clean restarts of mounts, with sync steps between (test/helpers/mount-sim.ts). After
 * every sync step each mount must show the server's tree (kernel caches invalidated); while one
 * device alone changes things it must show exactly its own ops; at the end `loft check` exits 0 on
 * every drive and every closed write is in the server's history.
 *
 * The quick set runs in `scripts/test`. LOFT_MOUNT_SEEDS ("1,2,3" or "1-40") and LOFT_MOUNT_OPS
 * override the seeds and the events per seed; LOFT_MOUNT_VERBOSE prints the schedule as it runs. A
 * failing seed is printed with its schedule, the command that runs it again and the mounts' stderr.
 */
import '../helpers/exit-promptly.js';
import t from 'tap';
import { parseSeeds } from '../helpers/prng.js';
import { formatMountFailure, runMountSeed } from '../helpers/mount-sim.js';

/** Seeds of the quick set (each passed every run here). */
const QUICK_SEEDS = [1, 2, 3];
const QUICK_OPS = 30;
const FILE = 'dist/test/integration/sync-random-mounts.test.js';

const seeds = parseSeeds(process.env.LOFT_MOUNT_SEEDS, QUICK_SEEDS);
const ops = Number(process.env.LOFT_MOUNT_OPS ?? QUICK_OPS);
const verbose = !!process.env.LOFT_MOUNT_VERBOSE;
const started = Date.now();
const failed: number[] = [];

for (const seed of seeds) {
  t.test(`mount seed ${seed} × ${ops} events`, async (t) => {
    const t0 = Date.now();
    const r = await runMountSeed({ seed, ops, verbose });
    const s = r.stats;
    t.comment(
      `mount seed ${seed}: ${s.events} events in ${Math.round((Date.now() - t0) / 1000)} s, ${s.fsOps} syscall ops ` +
        `(${s.fsErrors} POSIX errors), ${s.closedWrites} closed writes (${s.exemptWrites} exempt), ${s.crashes} kill -9, ` +
        `${s.syncSteps} sync steps (max ${s.maxSyncMs} ms; ${s.lateViews} views late, max ${s.maxViewLagMs} ms), ` +
        `${s.modelChecks} solo-model checks, final ${s.finalFiles} files / ${s.finalDirs} dirs, ${s.conflictedCopies} conflicted copies`,
    );
    if (!r.ok) {
      failed.push(seed);
      console.error(formatMountFailure(r, FILE));
    }
    t.ok(r.ok, `mount seed ${seed}: ${r.failures[0]?.split('\n')[0] ?? 'converged, nothing lost'}`);
  });
}

t.teardown(() => {
  const secs = Math.round((Date.now() - started) / 1000);
  console.error(
    `sync-random-mounts: ${seeds.length} seeds × ${ops} events in ${secs} s, ${failed.length} failed` +
      (failed.length ? ` (seeds ${failed.join(', ')})` : ''),
  );
});
