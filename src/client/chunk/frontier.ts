/**
 * Frontier: how much of a file still being written may be read, for a chunker that runs ahead of
 * its writer (chunk-ahead.ts). Bytes below `at` are final (written in order and never changed
 * since); `finish(size)` says the file ends at `size`; `fail` stops whoever waits.
 *
 * One producer (the thread that sees the writes), any number of waiters. A chunk worker keeps its
 * own copy, fed by messages (ChunkWorkerPool relays `onChange`).
 */
export class Frontier {
  #at = 0;
  #final = false;
  #error: Error | null = null;
  #waiters: { atLeast: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Told of every change (the pool relays it to the worker that chunks). */
  onChange: ((at: number, final: boolean) => void) | null = null;

  get at(): number {
    return this.#at;
  }

  /** True once the file's size is known: `at`. */
  get final(): boolean {
    return this.#final;
  }

  /** More bytes are final (never moves back; ignored once final). */
  advance(at: number): void {
    if (this.#final || this.#error || at <= this.#at) return;
    this.#at = at;
    this.#changed();
  }

  /** The file ends at `size` (at least what was already final). */
  finish(size: number): void {
    if (this.#final || this.#error) return;
    if (size < this.#at)
      return this.fail(new Error(`file shrank below ${this.#at} bytes while it was chunked`));
    this.#at = size;
    this.#final = true;
    this.#changed();
  }

  fail(err: Error): void {
    if (this.#final || this.#error) return;
    this.#error = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  /** Resolves once `atLeast` bytes are final, or the size is known. */
  wait(atLeast: number): Promise<void> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#final || this.#at >= atLeast) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ atLeast, resolve, reject }));
  }

  #changed(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!this.#final && this.#at < w.atLeast) return true;
      w.resolve();
      return false;
    });
    this.onChange?.(this.#at, this.#final);
  }
}
