/**
 * Throttles failed sign-ins, per user name and per client address: after FREE_FAILURES failures
 * in a row, each further attempt must wait a delay that doubles (1 s, 2 s, … up to MAX_DELAY_MS);
 * a success clears the user's record. Attempts inside the delay are refused without checking the
 * password (429 with Retry-After), so guessing costs the guesser time, not the server CPU.
 *
 * Memory is bounded: at most MAX_KEYS records, the oldest dropped first (an attacker who floods
 * addresses only loses the per-address delay, never the per-user one of the accounts they hit
 * hardest, which are the most recent). Time comes from the injected clock.
 */
import type { Clock } from '../../shared/clock.js';
import { LoftError } from '../../shared/errors.js';

/** Typos happen: five failures in a row pass without delay. */
const FREE_FAILURES = 5;
const BASE_DELAY_MS = 1000;
/** 15 minutes: long enough to make online guessing useless, short enough not to lock a user out for a day. */
const MAX_DELAY_MS = 15 * 60_000;
const MAX_KEYS = 10_000;

interface Record {
  failures: number;
  until: number;
}

export class LoginThrottle {
  readonly #clock: Clock;
  readonly #records = new Map<string, Record>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Throws TOO_MANY_REQUESTS (details.retryAfter, seconds) when any key is still waiting. */
  check(keys: readonly string[]): void {
    const now = this.#clock.now();
    let wait = 0;
    for (const k of keys) wait = Math.max(wait, (this.#records.get(k)?.until ?? 0) - now);
    if (wait > 0) {
      const retryAfter = Math.ceil(wait / 1000);
      throw new LoftError('TOO_MANY_REQUESTS', `too many failed sign-ins; try again in ${retryAfter} s`, {
        details: { retryAfter },
      });
    }
  }

  failed(keys: readonly string[]): void {
    const now = this.#clock.now();
    for (const k of keys) {
      const r = this.#records.get(k) ?? { failures: 0, until: 0 };
      this.#records.delete(k); // re-inserted last: Map order is the eviction order
      r.failures++;
      if (r.failures >= FREE_FAILURES)
        r.until = now + Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (r.failures - FREE_FAILURES));
      this.#records.set(k, r);
    }
    while (this.#records.size > MAX_KEYS) this.#records.delete(this.#records.keys().next().value!);
  }

  succeeded(keys: readonly string[]): void {
    for (const k of keys) this.#records.delete(k);
  }
}
