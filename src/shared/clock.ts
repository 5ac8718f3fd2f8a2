/** Wall-clock time in milliseconds since the epoch; injected so tests can use a fake one. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/**
 * Time and timers, injected into the sync core (mirror, push and pull loops) so that a test can run
 * them on a simulated clock: the same schedule then replays exactly (issue 12).
 */
export interface Timers extends Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Resolves after `ms` on `timers`, or at once when `signal` aborts. */
export function sleepOn(timers: Timers, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      timers.clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = timers.setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
