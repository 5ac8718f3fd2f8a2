/**
 * Named regression tests of multi-device sync (issue 5): hand-written, deterministic schedules for
 * the SyncSim (test/helpers/sync-sim.ts), each the minimal form of something the randomized runs
 * (sync-random.test.ts, scripts/soak) exercise. Every test ends with the final sync step and all the
 * checkers: devices equal the server, every closed write is in the history, no orphan, no cycle,
 * empty outboxes.
 *
 * FIXED holds the minimal scenarios of bugs the randomized runs found (each fixed since, see git
 * log), run in scripts/test; REGRESSION_SEEDS the random seeds that failed then, run with
 * LOFT_SYNC_REGRESSION_SEEDS=1 (and in scripts/soak). They depend on timing, so they are not in
 * every scripts/test. In session 4 the last known failures were fixed: a DirtyFile left behind by
 * truncate(2)/open(O_TRUNC) racing a remote delete (seeds 6, 9 × 40), a folder made here inside a
 * folder deleted and made again elsewhere (seed 1 × 60), a create following a stale path after its
 * folder moved elsewhere (seed 9 × 40), a rename onto a file after a conflict renamed the node here
 * (seed 14 × 60), a rename over a file whose own move was still queued (seed 20 × 60), a stuck
 * outbox after a crash (seed 24 × 60), a conflicted copy placed by a stale path (seed 34 × 60). KNOWN_FAILING_SEEDS (run with
 * LOFT_SYNC_KNOWN_FAILING=1) lists seeds that fail and are not fixed yet: seed 135 × 60 (session 5).
 */
import '../helpers/exit-promptly.js';
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

/** Bugs found by the randomized runs, fixed since (see the file comment). */
const FIXED: Record<string, Scenario> = {
  // Seed 135 × 60 (session 5; fixed in session 7 by stable local keys and the folder merge): C made
  // /b while A renamed its folder /c to /b. C's pull brought the rename while /b was C's own (it
  // was skipped), so C's mirror held both folders; C's mkdir /b was answered "exists" with A's
  // folder, and rewriting C's temporary id onto it broke the mirror's unique names on every retry:
  // C's outbox never drained again.
  'seed 135: a folder made here while another device renamed its folder to that name: they merge': async (
    sim,
    A,
    B,
    C,
  ) => {
    await sim.mkdir(A, '/c');
    await sim.createFile(A, '/c/x.txt', bytes(300, 1));
    await sim.createFile(A, '/c/same.txt', bytes(200, 5));
    await sim.mkdir(A, '/c/sub');
    await sim.createFile(A, '/c/sub/deep.txt', bytes(150, 6));
    await sim.syncStep();
    sim.setOnline(C, false);
    await sim.mkdir(C, '/b');
    await sim.createFile(C, '/b/x.txt', bytes(400, 2));
    await sim.createFile(C, '/b/same.txt', bytes(200, 5));
    await sim.mkdir(C, '/b/sub');
    await sim.createFile(C, '/b/sub/y.txt', bytes(100, 3));
    await sim.rename(A, '/c', '/b');
    await sim.settle([A, B]);
    // C comes back: its pull (first) brings the rename, its push then meets the folder.
    sim.setOnline(C, true);
    await sim.settle([A, B, C]);
    const tree = await sim.serverTree();
    const names = [...tree.keys()].filter((p) => p.startsWith('/b/')).sort();
    const copies = names.filter((p) => p.startsWith('/b/x (conflicted copy'));
    if (copies.length !== 1) throw new Error(`one conflicted copy of /b/x.txt expected: ${names.join(', ')}`);
    for (const p of ['/b/x.txt', '/b/same.txt', '/b/sub/deep.txt', '/b/sub/y.txt'])
      if (!tree.has(p)) throw new Error(`${p} missing on the server: ${names.join(', ')}`);
    if (names.some((p) => p.startsWith('/b/same (conflicted copy')))
      throw new Error(`identical files must become one: ${names.join(', ')}`);
  },
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
  'seed 9: a folder made here inside a folder renamed elsewhere follows it': async (sim, A, B) => {
    await sim.mkdir(A, '/a');
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.mkdir(A, '/a/a');
    await sim.createFile(A, '/a/a/x.txt', bytes(300, 1));
    await sim.rename(B, '/a', '/c');
    await sim.settle([B]);
  },
  'seed 1: a folder made here inside a folder deleted and made again elsewhere': async (sim, A, B) => {
    await sim.mkdir(A, '/c');
    await sim.mkdir(A, '/c/a');
    await sim.syncStep();
    sim.setOnline(A, false);
    await sim.mkdir(A, '/c/a/a');
    await sim.createFile(A, '/c/a/a/x.txt', bytes(900, 1));
    await sim.rmdir(B, '/c/a');
    await sim.mkdir(B, '/c/a');
    await sim.createFile(B, '/c/a/y.txt', bytes(400, 2));
    await sim.settle([B]);
  },
};

/** Random seeds that failed (schedule + timing); they pass since the fixes (see the file comment). */
const REGRESSION_SEEDS = [
  { seed: 1, ops: 60 },
  { seed: 14, ops: 60 },
  { seed: 20, ops: 60 },
  // After a crash with a file open for writing, its staging data file was longer than its
  // recorded size; the upload chunked the data file and found it "changed" forever (stuck outbox).
  { seed: 24, ops: 60 },
  // A conflicted copy committed by path inside a folder whose own move was still queued here (so
  // the path named its new place): the server made a new folder there, the queued move was refused
  // as NOT_EMPTY and the copy ended up in different folders here and there. Copies now go into
  // their folder by id.
  { seed: 34, ops: 60 },
  { seed: 6, ops: 40 },
  { seed: 9, ops: 40 },
  { seed: 5, ops: 60 },
  { seed: 6, ops: 60 },
  { seed: 8, ops: 60 },
  { seed: 10, ops: 60 },
  { seed: 1, ops: 40 },
  { seed: 4, ops: 40 },
  { seed: 12, ops: 40 },
  { seed: 14, ops: 40 },
  // A write made while its file's earlier content was being uploaded, when that upload ended as a
  // conflicted copy: the copy was recorded with the newer generation, so the newer write's staging
  // was dropped as clean (a lost write; fixed: the copy is recorded with the generation it read).
  { seed: 11, ops: 40 },
  // The folder merge (FIXED, "seed 135"). It also once lost a write (B's overwrite of /y.txt, w7,
  // renamed to /z.bin by a slow writer, in no revision); not seen since, not proven fixed.
  { seed: 135, ops: 60 },
];

/** Random seeds that still fail (see the file comment). */
const KNOWN_FAILING_SEEDS: { seed: number; ops: number }[] = [];

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
for (const [name, fn] of Object.entries(FIXED)) scenarioTest(`fixed: ${name}`, fn);
// Random seeds depend on timing (a schedule repeats only up to the first timing difference), so
// they run on demand (and in scripts/soak), not in every scripts/test: LOFT_SYNC_REGRESSION_SEEDS=1.
for (const { seed, ops } of process.env.LOFT_SYNC_REGRESSION_SEEDS || process.env.LOFT_SYNC_KNOWN_FAILING
  ? REGRESSION_SEEDS
  : []) {
  t.test(`regression: seed ${seed} × ${ops} events`, async (t) => {
    const r = await runSeed({ seed, ops });
    if (!r.ok) console.error(formatFailure(r));
    t.ok(r.ok, r.failures[0]?.split('\n')[0] ?? 'converged, nothing lost');
  });
}

if (process.env.LOFT_SYNC_KNOWN_FAILING) {
  for (const { seed, ops } of KNOWN_FAILING_SEEDS) {
    t.test(`known failing: seed ${seed} × ${ops} events`, async (t) => {
      const r = await runSeed({ seed, ops });
      if (!r.ok) console.error(formatFailure(r));
      t.ok(r.ok, r.failures[0]?.split('\n')[0] ?? 'converged, nothing lost');
    });
  }
}
