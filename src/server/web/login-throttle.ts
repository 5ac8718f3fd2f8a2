/**
 * Throttles failed sign-ins, per user name and per client address: after FREE_FAILURES failures
 * in a row, each further attempt must wait a delay that doubles (1 s, 2 s, … up to MAX_DELAY_MS);
 * a success clears the user's record. Attempts inside the delay are refused without checking the
 * password (429 with Retry-After), so guessing costs the guesser time, not the server CPU.
 *
 * The counts live in a ThrottleState (../throttle-state.ts): this process's memory, bounded (the
 * oldest dropped first: an attacker who floods addresses only loses the per-address delay, never
 * the per-user one of the accounts they hit hardest, which are the most recent), or the store
 * that several servers share. Time comes from the injected clock.
 */
import type { Clock } from '../../shared/clock.js';
import { LoftError } from '../../shared/errors.js';
import { MemoryThrottleState, type ThrottleState } from '../throttle-state.js';

/** Typos happen: five failures in a row pass without delay. */
const FREE_FAILURES = 5;
const BASE_DELAY_MS = 1000;
/** 15 minutes: long enough to make online guessing useless, short enough not to lock a user out for a day. */
const MAX_DELAY_MS = 15 * 60_000;

/** The hold after the n-th failure in a row. */
function delay(failures: number): number {
  return failures >= FREE_FAILURES
    ? Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (failures - FREE_FAILURES))
    : 0;
}

export class LoginThrottle {
  readonly #clock: Clock;
  readonly #state: ThrottleState;

  /** `state`: where the counts live (default: this process's memory; throttle-state.ts). */
  constructor(clock: Clock, state: ThrottleState = new MemoryThrottleState()) {
    this.#clock = clock;
    this.#state = state;
  }

  /** Throws TOO_MANY_REQUESTS (details.retryAfter, seconds) when any key is still waiting. */
  async check(keys: readonly string[]): Promise<void> {
    const wait = (await this.#state.until(keys.map(stateKey))) - this.#clock.now();
    if (wait > 0) {
      const retryAfter = Math.ceil(wait / 1000);
      throw new LoftError('TOO_MANY_REQUESTS', `too many failed sign-ins; try again in ${retryAfter} s`, {
        details: { retryAfter },
      });
    }
  }

  async failed(keys: readonly string[]): Promise<void> {
    const now = this.#clock.now();
    for (const k of keys) await this.#state.fail(stateKey(k), now, delay);
  }

  async succeeded(keys: readonly string[]): Promise<void> {
    await this.#state.clear(keys.map(stateKey));
  }
}

/** Sign-in keys apart from the other throttles' in a shared state. */
function stateKey(key: string): string {
  return `signin:${key}`;
}
