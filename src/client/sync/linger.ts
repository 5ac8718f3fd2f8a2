/**
 * Linger: how long the push loop waits for more of a burst of local changes before it sends.
 *
 * A burst (`tar x`, `cp -r`, an `npm install`) goes to the server in batches of many changes, not
 * one request per change or two: while changes keep arriving less than QUIET_MS apart, the loop
 * waits for more, up to MAX_MS or a full batch. Each request costs the server a transaction made
 * durable and a wake-up of every device's long-poll, and costs CPU the burst itself needs (in the
 * embedded setup the server shares the machine with the drive). An isolated change (at most
 * MIN_OPS queued) is sent at once: live sync of a single edit waits for nothing. Nor does a
 * backlog: after a batch of a quarter of BATCH_MAX or more (the push is what is slow, changes pile
 * up while it sends), the next goes at once, or waiting would only add to the backlog.
 */
export const LINGER_QUIET_MS = 15;
export const LINGER_MAX_MS = 300;
const MIN_OPS = 3;

export class Linger {
  /** When the last local change came. */
  #lastChange = -Infinity;
  /** When the current wait began; null while not waiting. */
  #since: number | null = null;
  /** Ops in the last batch sent. */
  #lastBatch = 0;

  constructor(readonly batchMax: number) {}

  /** A change was queued (or a writer closed a file). */
  changed(now: number): void {
    this.#lastChange = now;
  }

  /** A batch of `ops` ops was sent (0: none, a single op was); returns `ops`. */
  sent(ops: number): number {
    this.#lastBatch = ops;
    return ops;
  }

  /** Milliseconds to wait before sending, with `pending` ops queued (0: send now). */
  wait(now: number, pending: number): number {
    const quietFor = now - this.#lastChange;
    const backlog = this.#lastBatch * 4 >= this.batchMax;
    if (quietFor >= LINGER_QUIET_MS || pending <= MIN_OPS || pending >= this.batchMax || backlog) {
      this.#since = null;
      return 0;
    }
    this.#since ??= now;
    const left = this.#since + LINGER_MAX_MS - now;
    if (left <= 0) {
      this.#since = null;
      return 0;
    }
    return Math.min(LINGER_QUIET_MS - quietFor, left);
  }

  /** Waits on `sleep` when wait() says so; true when it did (look at the outbox again). */
  async hold(now: number, pending: number, sleep: { sleep(ms: number): Promise<void> }): Promise<boolean> {
    const ms = this.wait(now, pending);
    if (ms <= 0) return false;
    await sleep.sleep(ms);
    return true;
  }
}
