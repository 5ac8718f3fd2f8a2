/**
 * Linger: how long the push loop holds a burst of local changes (`tar x`, `cp -r`, `git clone`, an
 * `npm install`) before it sends them.
 *
 * While changes keep arriving less than LINGER_QUIET_MS apart, the loop holds them, up to
 * LINGER_MAX_MS from the start of the hold; once they stop, they go in full batches, back to back.
 * Pushing a burst while it runs takes from the burst itself: the push runs on the drive's one
 * JavaScript thread, which also answers every file system request, and in the embedded setup the
 * server shares the machine's cores too (a `tar x` of 6,221 entries took 15 s with the push beside
 * it, 8-9 s with it held, README "Bulk writes"). Holding costs the burst nothing and sends the same
 * changes in fewer, fuller batches; the price is that the server's copy starts after the burst.
 *
 * An isolated change (at most MIN_OPS queued) goes at once: live sync of a single edit waits for
 * nothing. A burst that outlasts LINGER_MAX_MS is not held further: batches then go at once until
 * the push has caught up with it (a quarter of a batch queued or less), then a new hold may begin,
 * so the server is never more than about LINGER_MAX_MS plus a catch-up behind.
 */
export const LINGER_QUIET_MS = 50;
export const LINGER_MAX_MS = 10_000;
const MIN_OPS = 3;

export class Linger {
  /** When the last local change came. */
  #lastChange = -Infinity;
  /** When the current hold began; null while not holding. */
  #since: number | null = null;
  /** A burst outlasted LINGER_MAX_MS: batches go at once until the push has caught up with it. */
  #catchingUp = false;

  constructor(readonly batchMax: number) {}

  /** A change was queued (or a writer closed a file). */
  changed(now: number): void {
    this.#lastChange = now;
  }

  /** Milliseconds to wait before sending, with `pending` ops queued (0: send now). */
  wait(now: number, pending: number): number {
    const quietFor = now - this.#lastChange;
    if (quietFor >= LINGER_QUIET_MS || pending <= MIN_OPS) {
      this.#since = null;
      this.#catchingUp = false;
      return 0;
    }
    if (this.#catchingUp) {
      if (pending > this.batchMax / 4) return 0;
      this.#catchingUp = false; // caught up: the burst may be held again
    }
    this.#since ??= now;
    const left = this.#since + LINGER_MAX_MS - now;
    if (left <= 0) {
      this.#since = null;
      this.#catchingUp = true;
      return 0;
    }
    return Math.min(LINGER_QUIET_MS - quietFor, left);
  }

  /**
   * Waits on `sleep` when wait() says so; true when it did (look at the outbox again). `shown.holding`
   * says whether it is holding (`loft status`).
   */
  async hold(
    now: number,
    pending: number,
    sleep: { sleep(ms: number): Promise<void> },
    shown: { holding: boolean } = { holding: false },
  ): Promise<boolean> {
    const ms = this.wait(now, pending);
    shown.holding = ms > 0;
    if (ms <= 0) return false;
    await sleep.sleep(ms);
    return true;
  }
}
