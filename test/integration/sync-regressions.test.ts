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
 * LOFT_SYNC_KNOWN_FAILING=1) lists seeds that fail and are not fixed yet: none (seed 135 × 60 was fixed in session 7).
 * KNOWN_FAILING holds scenarios that fail today (run with LOFT_SYNC_KNOWN_FAILING=1 too): none;
 * the three branches of seed 15 × 60 are in FIXED.
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

/** The fraction `pwrite` takes for byte offset `off` of a file of `size` bytes (traces print the offset). */
const at = (off: number, size: number) => (off + 0.5) / size;

/**
 * Seed 15 × 60, events 1–42, call for call as the random run makes them today (the trace of
 * LOFT_SYNC_SEEDS=15 LOFT_SYNC_OPS=60 LOFT_SYNC_VERBOSE=1; names and sizes as there, the content of
 * each write is bytes(size, its event number)). Events 12, 16, 33, 34 and 52 do nothing in the run (an
 * event with nothing to act on); 31–32 is a slow write whose handle is closed at the next event, here
 * an append of the same 1036 bytes. The server restart at #8 sends every device into its retry
 * backoff, so nearly all of it is still queued when the server comes back at #43: B's mkdir /b and
 * /b/a and C's move of its folder /c (x.txt inside) to /b, made while the server was down.
 */
async function seed15Events1To42(sim: SyncSim, A: Dev, B: Dev, C: Dev): Promise<void> {
  await sim.createFile(B, '/w', bytes(1828, 1));
  await sim.createFile(A, '/z.bin', bytes(1486, 2));
  await sim.pwrite(A, '/z.bin', at(527, 1486), bytes(125603, 3));
  await sim.createFile(B, '/y.txt', bytes(1544, 4));
  await sim.unlink(B, '/y.txt');
  await sim.unlink(A, '/z.bin');
  await sim.mkdir(A, '/a');
  await sim.restartServer(false); // #8
  await sim.mkdir(C, '/c');
  await sim.createFile(A, '/a/z.bin', bytes(1641, 10));
  await sim.pwrite(A, '/a/z.bin', 'append', bytes(40217, 11));
  await sim.createFile(C, '/c/y.txt', bytes(72714, 13));
  await sim.restartDevice(C, true); // #14
  await sim.unlink(B, '/w');
  sim.setOnline(B, false); // #17
  await sim.rename(C, '/c/y.txt', '/z.bin');
  await sim.createFile(C, '/c/x.txt', bytes(1065, 19));
  await sim.overwrite(A, '/a/z.bin', bytes(47, 20));
  await sim.truncate(C, '/c/x.txt', 227);
  await sim.mkdir(A, '/a/b');
  await sim.pwrite(A, '/a/z.bin', at(19, 47), bytes(34583, 23));
  sim.setOnline(B, true); // #24
  await sim.restartServer(false); // #25
  await sim.mkdir(B, '/b');
  await sim.createFile(A, '/a/x.txt', bytes(1527, 27));
  sim.loseAnswer(C); // #28
  await sim.mkdir(A, '/a/b/b');
  await sim.createFile(A, '/w', bytes(626, 30));
  await sim.pwrite(A, '/a/z.bin', 'append', bytes(1036, 31)); // #31–32
  await sim.mkdir(B, '/b/a'); // #35
  await sim.rename(C, '/c', '/c');
  await sim.serverDown(true); // #37
  sim.setOnline(A, false);
  await sim.pwrite(A, '/a/x.txt', 'append', bytes(947, 39));
  await sim.rename(C, '/c', '/c/c'); // EINVAL
  sim.setOnline(A, true); // #41
  await sim.rename(C, '/c', '/b'); // #42
}

/**
 * Seed 15 × 60, the branch where B's queued mkdir /b reaches the server before C's move of /c onto /b
 * (forced: C is held back at the sync of #43), events 43–50 and B's mkdir /b/c (#50, pushed).
 */
async function seed15RefusedTo52(sim: SyncSim, A: Dev, B: Dev, C: Dev): Promise<void> {
  await seed15Events1To42(sim, A, B, C);
  // #43 (sync), B's queued work first: C's move onto /b (not empty: /b/a) is refused, /c comes back.
  sim.setOnline(C, false);
  await sim.serverUp();
  await sim.settle([A, B]);
  await sim.syncStep();
  await expectServer(sim, ['/c/x.txt', '/b/a', '/z.bin'], ['/b/x.txt']);
  await sim.overwrite(A, '/a/x.txt', bytes(730, 44));
  await sim.rename(C, '/a/b', '/a/b/a'); // EINVAL
  await sim.overwrite(B, '/a/z.bin', bytes(59504, 46));
  await sim.createFile(C, '/b/x.txt', bytes(481, 47));
  await sim.pwrite(B, '/c/x.txt', at(211, 227), bytes(3183, 48));
  await sim.pwrite(C, '/a/x.txt', at(371, 730), bytes(3139, 49));
  await sim.mkdir(B, '/b/c');
  await sim.settle([B, C]);
}

/** Seed 15 × 60, B-first branch, events 55–60. */
async function seed15Tail55(sim: SyncSim, A: Dev, B: Dev, C: Dev): Promise<void> {
  await sim.mkdir(B, '/a/b/a');
  await sim.rmdir(B, '/b/c'); // ENOTEMPTY
  await sim.rename(C, '/w', '/b/a/w');
  sim.setOnline(A, false); // #58
  await sim.syncStep(); // #59
  await sim.createFile(B, '/w', bytes(1071, 60));
}

/** Throws unless the server's tree has every path of `present` and none of `absent`. */
async function expectServer(sim: SyncSim, present: string[], absent: string[]): Promise<void> {
  const tree = await sim.serverTree();
  const all = [...tree.keys()].sort().join(', ');
  for (const p of present) if (!tree.has(p)) throw new Error(`${p} missing on the server: ${all}`);
  for (const p of absent) if (tree.has(p)) throw new Error(`${p} on the server: ${all}`);
}

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
  // Seed 15 × 60 (session 4: failed once in 10 runs, not diagnosed). The sync at #43 meets two queued
  // changes to /b: B's mkdir /b (+ /b/a) and C's move of /c to /b. Which reaches the server first is a
  // race (B first in 5 of 8 runs here, C first in 3); the schedule's later picks follow the tree, so
  // each branch is a scenario forcing it by holding one device back at #43, then events 44–60 as
  // that branch runs them. The C-first branch is seed 135's race (B's pull brings C's move onto the
  // name of a folder B made, B's mkdir is answered "exists"). In the B-first branch C later moves /c
  // onto B's new empty /b/c while B moves a file into /b/c: C's move first is below; B's file first
  // is the third scenario (C's mirror never got /b/c back until session 8).
  'seed 15 × 60: a move onto a name another device made meanwhile is refused and undone': async (
    sim,
    A,
    B,
    C,
  ) => {
    await seed15RefusedTo52(sim, A, B, C);
    // Forced: B's /b/c is on the server and B is away, so C's move replaces the empty /b/c there.
    sim.setOnline(B, false);
    await sim.createFile(B, '/b/c/z.bin', bytes(511783, 51));
    await sim.rename(C, '/c', '/b/c'); // #53
    await sim.settle([C]);
    await sim.rename(B, '/c/x.txt', '/b/c/z.bin'); // refused when B is back: its folder is gone
    await seed15Tail55(sim, A, B, C);
    await expectServer(sim, ['/b/c/x.txt'], ['/c', '/b/c/z.bin']);
  },
  'seed 15 × 60: a folder made here while another device moved its folder to that name: they merge': async (
    sim,
    A,
    B,
    C,
  ) => {
    await seed15Events1To42(sim, A, B, C);
    // #43 (sync), C's queued work first: C's folder becomes /b; B's pull brings that while its own /b
    // is queued (skipped), then B's mkdir /b is answered "exists": B's /b merges into it, /b/a too.
    sim.setOnline(B, false);
    await sim.serverUp();
    await sim.settle([A, C]);
    await sim.syncStep();
    await expectServer(sim, ['/b/x.txt', '/b/a', '/z.bin'], ['/c', '/b (2)']);
    await sim.overwrite(A, '/a/x.txt', bytes(730, 44));
    await sim.rename(C, '/a', '/a/b/a'); // EINVAL
    await sim.overwrite(B, '/a/z.bin', bytes(59504, 46));
    await sim.createFile(C, '/a/b/b/x.txt', bytes(481, 47));
    await sim.pwrite(B, '/b/x.txt', at(211, 227), bytes(3183, 48));
    await sim.pwrite(C, '/a/b/b/x.txt', at(244, 481), bytes(3139, 49));
    await sim.mkdir(B, '/b/c');
    await sim.createFile(B, '/b/a/z.bin', bytes(511783, 51));
    await sim.rename(C, '/b/c', '/b/c'); // #53
    await sim.rename(B, '/b/x.txt', '/a/z.bin');
    await sim.mkdir(B, '/a/b/a');
    await sim.rmdir(B, '/b/a'); // ENOTEMPTY
    await sim.rename(C, '/w', '/b/a/w');
    sim.setOnline(A, false); // #58
    await sim.syncStep(); // #59
    await sim.createFile(B, '/w', bytes(1071, 60));
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
  // FIXED in session 8 (a move's replaced target is resynced, see Mirror.moveLocal; found again by
  // the deterministic simulation as seed 144). Seed 15 × 60, B-first branch, B's file first (1 of 4 unforced runs of that branch
  // here): C moved /c onto B's empty /b/c, replacing it here, while B moved x.txt into /b/c. The
  // server refuses C's move (not empty) and the push loop resyncs the moved folder and the skipped
  // file, but not the folder the move replaced here: the file's resync finds no parent here and is
  // dropped. C keeps /c/x.txt, and /b/c with z.bin never come back to C (convergence fails). On the
  // code before stable local keys (3d5f64f^) the same branch passed (folder 14 was resynced too).
  'seed 15 × 60: a folder move refused after replacing an empty folder here: that folder comes back': async (
    sim,
    A,
    B,
    C,
  ) => {
    await seed15RefusedTo52(sim, A, B, C);
    await sim.createFile(B, '/b/c/z.bin', bytes(511783, 51));
    // Forced: C is away while B's file moves into /b/c; C's move onto /b/c is pushed after it.
    sim.setOnline(C, false);
    await sim.rename(C, '/c', '/b/c'); // #53
    await sim.rename(B, '/c/x.txt', '/b/c/z.bin');
    await sim.settle([B]);
    await seed15Tail55(sim, A, B, C);
  },
};

/** Scenarios that fail today (run with LOFT_SYNC_KNOWN_FAILING=1); see each one's comment. */
const KNOWN_FAILING: Record<string, Scenario> = {};

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
  for (const [name, fn] of Object.entries(KNOWN_FAILING)) scenarioTest(`known failing: ${name}`, fn);
  for (const { seed, ops } of KNOWN_FAILING_SEEDS) {
    t.test(`known failing: seed ${seed} × ${ops} events`, async (t) => {
      const r = await runSeed({ seed, ops });
      if (!r.ok) console.error(formatFailure(r));
      t.ok(r.ok, r.failures[0]?.split('\n')[0] ?? 'converged, nothing lost');
    });
  }
}
