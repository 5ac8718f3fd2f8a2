/**
 * The retry rules the push and pull loops share: how long to wait after a failure (Backoff), and
 * where a loop waits (LoopSleep) until that time is up, something new arrives (wake), the server is
 * reachable again (retryNow) or the drive closes.
 *
 * Every resumption runs from a timer of its own, never inside the caller's call (a syscall, the
 * other loop's turn): each runs on its own turn, and a simulated clock orders them (issue 12).
 */
import type { Timers } from '../../shared/clock.js';

export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 30_000;
/**
 * Longest wait between attempts while the server is unreachable: a reconnect is noticed within
 * this (a failed connect every few seconds costs nothing), and the other loop is woken at once.
 */
export const OFFLINE_BACKOFF_MAX_MS = 5_000;

/** Waits between attempts: doubling from BACKOFF_MIN_MS, capped lower while offline. */
export class Backoff {
  #ms = BACKOFF_MIN_MS;

  /** After a success: the next failure waits the least again. */
  reset(): void {
    this.#ms = BACKOFF_MIN_MS;
  }

  /** The wait before the next attempt; the one after it is twice as long, up to the cap. */
  next(offline: boolean): number {
    const ms = this.#ms;
    this.#ms = Math.min(ms * 2, offline ? OFFLINE_BACKOFF_MAX_MS : BACKOFF_MAX_MS);
    return ms;
  }
}

/** Where one loop sleeps; one sleep at a time. */
export class LoopSleep {
  readonly #timers: Timers;
  readonly #signal: AbortSignal;
  /** Ends the current sleep if it is wakeable. */
  #wake: (() => void) | null = null;
  /** Ends the current sleep if it is timed (a backoff). */
  #retry: (() => void) | null = null;
  #woken = false;

  constructor(timers: Timers, signal: AbortSignal) {
    this.#timers = timers;
    this.#signal = signal;
  }

  /** Clears the record of a wake (the loop is about to look at its work again). */
  clearWoken(): void {
    this.#woken = false;
  }

  /** Something new to do: ends a wakeable sleep, or makes the next one return at once. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** The server is reachable again: ends a timed sleep (a backoff) at once. */
  retryNow(): void {
    this.#retry?.();
  }

  /**
   * Sleeps until `ms` elapsed (forever when null), the signal aborts, or retryNow(); when
   * `wakeable` (always when ms is null), also until a wake(), or not at all if one came since the
   * last clearWoken().
   */
  sleep(ms: number | null, wakeable = false): Promise<void> {
    wakeable ||= ms === null;
    if (this.#woken && wakeable) return Promise.resolve();
    return new Promise((resolve) => {
      let over = false;
      const done = () => {
        if (over) return; // a wake's timer may fire after this sleep ended another way
        over = true;
        if (t !== null) this.#timers.clearTimeout(t);
        this.#signal.removeEventListener('abort', done);
        if (this.#wake === soon) this.#wake = null;
        if (this.#retry === soon) this.#retry = null;
        resolve();
      };
      const soon = () => void this.#timers.setTimeout(done, 0);
      const t = ms === null ? null : this.#timers.setTimeout(done, ms);
      this.#wake = wakeable ? soon : null;
      this.#retry = ms === null ? null : soon;
      if (this.#signal.aborted) done();
      else this.#signal.addEventListener('abort', done, { once: true });
    });
  }
}
