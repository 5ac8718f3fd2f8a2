/**
 * The deterministic sync simulation (issue 12 item 2, test/helpers/det-sim): three drives' real
 * sync core and the real server app in one process on one seeded scheduler and virtual time.
 *
 * - A seed replays exactly: the same seed run twice gives the same trace, step for step.
 * - A few hundred schedules in every `scripts/test` (LOFT_DET_SEEDS "1-300", LOFT_DET_EVENTS); a
 *   failing seed prints its schedule and trace, and LOFT_DET_SHRINK=1 cuts it down to the events it
 *   needs (keep that as a named scenario below).
 * `scripts/soak` runs thousands.
 */
import '../helpers/exit-promptly.js';
import t from 'tap';
import { formatDetFailure, runDet, shrinkSchedule } from '../helpers/det-sim/det-check.js';
import type { DetEvent } from '../helpers/det-sim/schedule.js';

const DEFAULT_SEEDS = '1-200';

/**
 * Seeds that find bugs not fixed yet (each replays exactly; LOFT_DET_SEEDS=144 LOFT_DET_SHRINK=1
 * shrinks one). Left out of the quick set and run with LOFT_DET_KNOWN_FAILING=1; fix, then move
 * the shrunk schedule into a named scenario.
 * - 144: after concurrent renames onto /y.txt and a server restart, B ends without /y.txt
 *   (missing) while A and C have it.
 * - 170: a queued commit of /z.bin is answered "server asked for a block of an unchanged file"
 *   forever (6,000+ tries, never set aside as stuck): the outbox never drains.
 * - 187: A's mirror and the server disagree after the final sync (`loft check` not in sync) with
 *   no difference listed (an unsettled node or a resync that never ends).
 */
export const KNOWN_FAILING_DET = [144, 170, 187];

/**
 * Seed 144 shrunk (40 → 9 events in 57 runs): B renames /c/y.txt onto /y.txt (replacing the /y.txt
 * A made) while C deletes /c/y.txt; after the final sync B has no /y.txt, A and C have A's. The
 * server refused B's move (its node was deleted), so A's /y.txt was never replaced there, but B's
 * mirror had already dropped it and never fetches it again.
 */
const SEED_144_SHRUNK: DetEvent[] = [
  { k: 'mkdir', d: 'A', p: '/c' },
  { k: 'run', n: 9 },
  { k: 'create', d: 'C', p: '/c/y.txt', size: 1316, fill: 57093455 },
  { k: 'create', d: 'A', p: '/w', size: 1798, fill: 633048198 },
  { k: 'rename', d: 'A', from: '/w', to: '/y.txt' },
  { k: 'sync' },
  { k: 'rename', d: 'B', from: '/c/y.txt', to: '/y.txt' },
  { k: 'unlink', d: 'C', p: '/c/y.txt' },
  { k: 'crash', d: 'A' },
];

if (process.env.LOFT_DET_KNOWN_FAILING)
  t.test('known failing: seed 144 shrunk: a rename onto a file, its source deleted elsewhere', async (t) => {
    const r = await runDet({ seed: 144, schedule: SEED_144_SHRUNK });
    if (!r.ok) console.error(formatDetFailure(r));
    t.ok(r.ok, r.failures[0]?.split('\n')[0] ?? 'converged, nothing lost');
  });

/** "1-40" or "3,17,42". */
function parseSeeds(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)-(\d+)$/.exec(part.trim());
    if (m) for (let s = Number(m[1]); s <= Number(m[2]); s++) out.push(s);
    else if (part.trim()) out.push(Number(part.trim()));
  }
  return out;
}
const DEFAULT_EVENTS = 40;

t.test('a seed replays exactly: same trace twice', async (t) => {
  const a = await runDet({ seed: 7, events: 60 });
  const b = await runDet({ seed: 7, events: 60 });
  t.ok(a.trace.length > 200, `a real run (${a.trace.length} steps of trace)`);
  t.equal(a.stats.fsOps > 20, true, `it did file-system work (${a.stats.fsOps} syscalls)`);
  t.same(b.schedule, a.schedule, 'the same schedule');
  const at = a.trace.findIndex((l, i) => l !== b.trace[i]);
  t.equal(
    at,
    a.trace.length === b.trace.length ? -1 : at,
    at === -1 ? 'same trace' : `first difference at line ${at}: ${a.trace[at]} | ${b.trace[at]}`,
  );
  t.equal(b.trace.length, a.trace.length, 'same length');
  // Replaying the recorded schedule (no drawing) gives that trace too.
  const c = await runDet({ seed: 7, schedule: a.schedule });
  t.same(c.trace, a.trace, 'replaying the recorded schedule gives the same trace');
});

const seeds = process.env.LOFT_DET_KNOWN_FAILING
  ? KNOWN_FAILING_DET
  : parseSeeds(process.env.LOFT_DET_SEEDS ?? DEFAULT_SEEDS).filter(
      (s) => process.env.LOFT_DET_SEEDS || !KNOWN_FAILING_DET.includes(s),
    );
const events = Number(process.env.LOFT_DET_EVENTS ?? DEFAULT_EVENTS);
const started = Date.now();
const failed: number[] = [];
t.test(`${seeds.length} random schedules × ${events} events`, async (t) => {
  let steps = 0;
  for (const seed of seeds) {
    const r = await runDet({ seed, events, verbose: !!process.env.LOFT_DET_VERBOSE });
    steps += r.stats.steps;
    if (r.ok) continue;
    failed.push(seed);
    console.error(formatDetFailure(r));
    if (process.env.LOFT_DET_SHRINK) {
      const s = await shrinkSchedule(seed, r.schedule, 400, (n, runs) =>
        console.error(`shrink: ${n} events after ${runs} runs`),
      );
      console.error(`shrunk to ${s.schedule.length} events:\n${formatDetFailure(s.result)}`);
    }
    t.fail(`seed ${seed}: ${r.failures[0]?.split('\n')[0]}`);
  }
  const secs = (Date.now() - started) / 1000;
  t.comment(
    `${seeds.length} schedules, ${steps} steps in ${secs.toFixed(1)} s (${Math.round((seeds.length / secs) * 60)} schedules/min)`,
  );
  t.equal(failed.length, 0, `no failing schedule${failed.length ? ` (seeds ${failed.join(', ')})` : ''}`);
  console.error(
    `sync-det: ${seeds.length} seeds × ${events} events in ${Math.round(secs)} s, ${failed.length} failed${failed.length ? ` (seeds ${failed.join(', ')})` : ''}`,
  );
});
