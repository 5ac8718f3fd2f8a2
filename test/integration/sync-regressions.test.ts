/**
 * Named regression tests of multi-device sync (issue 5): hand-written, deterministic schedules for
 * the SyncSim (test/helpers/sync-sim.ts), each the minimal form of something the randomized runs
 * (sync-random.test.ts, scripts/soak) exercise. Every test ends with the final sync step and all the
 * checkers: devices equal the server, every closed write is in the history, no orphan, no cycle,
 * empty outboxes.
 *
 * Known failing, not yet fixed (found by the randomized runs; each has its minimal scenario below in
 * KNOWN_FAILING, run with LOFT_SYNC_KNOWN_FAILING=1; move it to PASSING once fixed):
 *
 * - seed 5 (60 events): a conflicted copy's "winner" is fetched by path and force-applied over a
 *   different node that is local on this device (push-loop.ts #conflict: `remote.node(path)` for a
 *   node with a temporary id, then `mirror.putRemote(winner)`, which applies with force). The local
 *   node's block list changes under its staged edit: the upload fails forever with "base revision
 *   ended early" (stuck outbox), or, if the sizes agree, the staged ranges are silently laid over the
 *   other device's content and committed without a conflict (the closed write is lost).
 * - seed 1 (60 events): a file or directory created here while offline, inside a directory that
 *   another device moved meanwhile, is pushed by its stale path (push-loop.ts #mkdir `op.path` with
 *   `parents: true`, #commit `{ path: op.path }` for temporary ids): the server re-creates the old
 *   path, while this device's mirror keeps the node under the moved directory (divergence).
 * - seed 10 (60 events): edit + rename here while another device edits the same file: the commit's
 *   conflict remaps the local node to the conflicted copy (mirror.remap moves the queued ops too), so
 *   the queued move then moves the conflicted copy onto the target on the server, while this device
 *   keeps it under the copy's name (divergence).
 * - seed 6 (60 events): rename here (queued) while another device edits the file: the node is
 *   "local" while the move is queued, so the edit's journal entry is skipped, and the move's answer
 *   (setRev) jumps the node's revision past it: this device keeps the old content for good.
 * - seed 6 (60 events, another run): truncate(2) by path right after a close races the push loop
 *   dropping the staging of the just-committed file (`void vfs.dirty.drop` in #recordCommit; Vfs
 *   truncate holds no reference on the DirtyFile): truncate fails with "file closed" (EIO).
 * - seed 8 (60 events): B's and C's copies of files renamed over conflicted copies keep content that
 *   differs from the server's; not minimized (likely the seed 6 / seed 10 causes combined).
 * - seeds 1, 4, 6, 9, 12, 14 (40 events) fail in some runs (timing): a remote move onto a name held
 *   by a local dirty file is skipped and never re-applied once that file became a conflicted copy
 *   (seed 1); crossed renames /z.bin -> /x.txt here, /x.txt -> /z.bin there leave /x.txt on one
 *   device only (seed 14: the move answered NOT_FOUND is dropped, the skipped tombstone is not
 *   re-applied); "base revision ended early at 0" after a conflict moved an open writer into the
 *   conflicted copy (seed 9); a DirtyFile (and its staging file) left behind by an open(O_TRUNC) or
 *   truncate(2) that met a concurrent remote delete, which also answers success for a change that
 *   is then dropped (seeds 6, 9).
 */
import t from 'tap';
import { pseudoRandom } from '../helpers/fixtures.js';
import { formatFailure, runSeed, SyncSim } from '../helpers/sync-sim.js';

type Dev = SyncSim['devices'][number];
type Scenario = (sim: SyncSim, A: Dev, B: Dev, C: Dev) => Promise<void>;

const bytes = (size: number, seed: number) => pseudoRandom(size, seed);

/** Passing today: each pins a behaviour the random runs rely on. */
const PASSING: Record<string, Scenario> = {
  'edit vs edit while offline: a conflicted copy, both contents kept': async (sim, A, B) => {
    await sim.createFile(A, '/f.txt', bytes(1000, 1));
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.overwrite(A, '/f.txt', bytes(1100, 2));
    await sim.overwrite(B, '/f.txt', bytes(1200, 3));
    await sim.settle([B]);
  },
  'edit here vs delete elsewhere: the edit wins, the file comes back': async (sim, A, B) => {
    await sim.createFile(A, '/f.txt', bytes(1000, 1));
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.pwrite(A, '/f.txt', 0.5, bytes(300, 2));
    await sim.unlink(B, '/f.txt');
    await sim.settle([B]);
  },
  'create here inside a directory deleted elsewhere: the directory comes back': async (sim, A, B) => {
    await sim.mkdir(A, '/c');
    await sim.mkdir(A, '/c/a');
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.mkdir(A, '/c/a/b');
    await sim.createFile(A, '/c/a/x.txt', bytes(778, 2));
    await sim.rmdir(B, '/c/a');
    await sim.settle([B]);
  },
  'lost commit answers: adopted, no duplicate, no conflicted copy': async (sim, A, B) => {
    await sim.createFile(A, '/f.txt', bytes(1000, 1));
    await sim.syncStep();
    sim.loseAnswer(A);
    await sim.overwrite(A, '/f.txt', bytes(1500, 2));
    await sim.syncStep();
    sim.loseAnswer(B);
    await sim.createFile(B, '/g.txt', bytes(700, 3));
  },
  'crash with queued work, server killed meanwhile': async (sim, A, B) => {
    await sim.mkdir(A, '/d');
    await sim.createFile(A, '/d/f.txt', bytes(300 * 1024, 1));
    await sim.restartDevice(A, true);
    await sim.serverDown(true);
    await sim.overwrite(B, '/d/f.txt', bytes(2000, 2));
    await sim.createFile(B, '/g.txt', bytes(100, 3));
    await sim.serverUp();
  },
  'dir rename here vs new file there: the file follows the directory': async (sim, A, B) => {
    await sim.mkdir(A, '/a');
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.rename(A, '/a', '/b');
    await sim.createFile(B, '/a/x.txt', bytes(500, 1));
    await sim.settle([B]);
  },
};

/** Failing today (see the file comment); run with LOFT_SYNC_KNOWN_FAILING=1. */
const KNOWN_FAILING: Record<string, Scenario> = {
  'seed 5: conflict winner fetched by path overwrites a local node (stuck outbox)': async (sim, A, B) => {
    await sim.createFile(B, '/x.txt', bytes(4381, 1));
    await sim.syncStep();
    await sim.readFile(A, '/x.txt');
    sim.setOnline(A, false);
    await sim.createFile(A, '/y.txt', bytes(100, 2));
    await sim.pwrite(A, '/x.txt', 0.45, bytes(930, 3));
    await sim.rename(B, '/x.txt', '/y.txt');
    await sim.truncate(B, '/y.txt', 1156);
    await sim.settle([B]);
  },
  'seed 5: conflict winner fetched by path overwrites a local node (lost write)': async (sim, A, B) => {
    await sim.createFile(B, '/x.txt', bytes(4381, 1));
    await sim.syncStep();
    await sim.readFile(A, '/x.txt');
    sim.setOnline(A, false);
    await sim.createFile(A, '/y.txt', bytes(100, 2));
    await sim.pwrite(A, '/x.txt', 0.45, bytes(930, 3));
    await sim.rename(B, '/x.txt', '/y.txt');
    await sim.overwrite(B, '/y.txt', bytes(5000, 4));
    await sim.settle([B]);
  },
  'seed 1: create inside a directory moved elsewhere is pushed to the stale path': async (sim, A, B) => {
    await sim.mkdir(A, '/c');
    await sim.mkdir(A, '/c/a');
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.mkdir(A, '/c/a/b');
    await sim.createFile(A, '/c/a/x.txt', bytes(778, 2));
    await sim.mkdir(B, '/a');
    await sim.rename(B, '/c', '/a/c');
    await sim.settle([B]);
  },
  'seed 10: edit + rename vs remote edit: the queued move moves the conflicted copy': async (sim, A, B) => {
    await sim.createFile(A, '/f.txt', bytes(1000, 1));
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.overwrite(A, '/f.txt', bytes(1100, 2));
    await sim.rename(A, '/f.txt', '/g.txt');
    await sim.overwrite(B, '/f.txt', bytes(1200, 3));
    await sim.settle([B]);
  },
  'seed 6: rename vs remote edit: the edit never reaches the renaming device': async (sim, A, B) => {
    await sim.createFile(A, '/f.txt', bytes(1000, 1));
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.rename(A, '/f.txt', '/g.txt');
    await sim.overwrite(B, '/f.txt', bytes(1200, 3));
    await sim.settle([B]);
  },
  'seed 6: truncate by path right after close races the staging drop (EIO)': async (sim, A) => {
    await sim.createFile(A, '/f.txt', bytes(1000, 1));
    for (let i = 0; i < 30; i++) {
      await sim.overwrite(A, '/f.txt', bytes(1000 + i, 10 + i));
      await new Promise((r) => setTimeout(r, i % 8));
      await sim.truncate(A, '/f.txt', 100 + i);
    }
  },
};

/** Random seeds that failed (schedule + timing), re-run as they were found. */
const KNOWN_FAILING_SEEDS = [
  { seed: 1, ops: 60 },
  { seed: 5, ops: 60 },
  { seed: 6, ops: 60 },
  { seed: 8, ops: 60 },
  { seed: 10, ops: 60 },
  { seed: 1, ops: 40 },
  { seed: 4, ops: 40 },
  { seed: 6, ops: 40 },
  { seed: 9, ops: 40 },
  { seed: 12, ops: 40 },
  { seed: 14, ops: 40 },
];

function scenarioTest(name: string, fn: Scenario): void {
  t.test(name, async (t) => {
    const sim = await SyncSim.start({ seed: 0, verbose: !!process.env.LOFT_SYNC_VERBOSE });
    try {
      const [A, B, C] = sim.devices as [Dev, Dev, Dev];
      await fn(sim, A, B, C);
      await sim.finish();
    } catch (err) {
      sim.failures.push(`scenario error: ${(err as Error)?.stack ?? String(err)}`);
    } finally {
      await sim.dispose();
    }
    const r = sim.result();
    if (!r.ok) console.error(formatFailure(r));
    t.ok(r.ok, r.failures[0]?.split('\n')[0] ?? 'converged, nothing lost');
  });
}

for (const [name, fn] of Object.entries(PASSING)) scenarioTest(name, fn);

if (process.env.LOFT_SYNC_KNOWN_FAILING) {
  for (const [name, fn] of Object.entries(KNOWN_FAILING)) scenarioTest(`known failing: ${name}`, fn);
  for (const { seed, ops } of KNOWN_FAILING_SEEDS) {
    t.test(`known failing: seed ${seed} × ${ops} events`, async (t) => {
      const r = await runSeed({ seed, ops });
      if (!r.ok) console.error(formatFailure(r));
      t.ok(r.ok, r.failures[0]?.split('\n')[0] ?? 'converged, nothing lost');
    });
  }
}
