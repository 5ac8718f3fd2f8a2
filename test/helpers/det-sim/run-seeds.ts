/**
 * Many seeds of the deterministic simulation, one after another: the loop shared by `sync-det`'s
 * random set (under tap, in every `scripts/test`) and `scripts/soak` (soak-main.ts, without tap:
 * tap's per-test async-hook domain tracks every promise, ~10% of a schedule's CPU).
 * Failures are printed with their schedule and trace (shrunk with LOFT_DET_SHRINK=1); progress
 * every 1000 schedules; the closing line is "sync-det: N seeds × E events in S s, F failed (seeds …)".
 */
import { formatDetFailure, runDet, shrinkSchedule } from './det-check.js';

export interface SeedsResult {
  failed: number[];
  /** The first line of each failure, by seed. */
  firstLines: Map<number, string>;
  steps: number;
  secs: number;
}

export async function runSeeds(
  seeds: number[],
  events: number,
  opts: { verbose?: boolean; shrink?: boolean; log?: (line: string) => void } = {},
): Promise<SeedsResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const started = Date.now();
  const failed: number[] = [];
  const firstLines = new Map<number, string>();
  let steps = 0;
  let done = 0;
  for (const seed of seeds) {
    const r = await runDet({ seed, events, verbose: !!opts.verbose });
    steps += r.stats.steps;
    // A long soak says where it is (its log holds failures only otherwise).
    if (++done % 1000 === 0) log(`sync-det: ${done} of ${seeds.length} schedules, ${failed.length} failed`);
    if (r.ok) continue;
    failed.push(seed);
    firstLines.set(seed, r.failures[0]?.split('\n')[0] ?? '');
    log(formatDetFailure(r));
    if (opts.shrink) {
      const s = await shrinkSchedule(seed, r.schedule, 400, (n, runs) =>
        log(`shrink: ${n} events after ${runs} runs`),
      );
      log(`shrunk to ${s.schedule.length} events:\n${formatDetFailure(s.result)}`);
    }
  }
  const secs = (Date.now() - started) / 1000;
  log(
    `sync-det: ${seeds.length} seeds × ${events} events in ${Math.round(secs)} s, ${failed.length} failed${failed.length ? ` (seeds ${failed.join(', ')})` : ''}`,
  );
  return { failed, firstLines, steps, secs };
}
