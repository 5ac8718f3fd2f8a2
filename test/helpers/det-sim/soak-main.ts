/**
 * `scripts/soak`'s worker: runs LOFT_DET_SEEDS × LOFT_DET_EVENTS schedules of the deterministic
 * simulation as a plain Node process (no test framework), prints what `runSeeds` prints and exits
 * non-zero when a schedule failed. The same schedules replay under tap in `sync-det`.
 */
import '../exit-promptly.js';
import { parseSeeds } from '../prng.js';
import { runSeeds } from './run-seeds.js';

const seeds = parseSeeds(process.env.LOFT_DET_SEEDS);
if (!seeds.length) {
  console.error('soak-main: LOFT_DET_SEEDS names no seed (say "1-2000" or "3,17,42")');
  process.exit(2);
}
const events = Number(process.env.LOFT_DET_EVENTS ?? 40);
const r = await runSeeds(seeds, events, {
  verbose: !!process.env.LOFT_DET_VERBOSE,
  shrink: !!process.env.LOFT_DET_SHRINK,
});
process.exit(r.failed.length ? 1 : 0);
