/**
 * InOrder: whether a new file's bytes were written strictly in order from its start, each byte
 * once, and how far: [0, appended) is final while the file is still being written, so a chunker
 * may read it (chunk-ahead.ts). Writes may overlap in time (the kernel sends several at once): one
 * is in order if it starts where the one before it ends, and `appended` moves past it once it and
 * every write before it have ended. Anything else (a write elsewhere, a truncate that changes the
 * size, a failed write, a removal) breaks the order for good.
 */
export class InOrder {
  #next = 0;
  #appended = 0;
  #pending: { end: number; done: boolean }[] = [];
  #broken = false;
  /** Told when `appended` moves, and once with null when the order breaks. */
  onChange: ((appended: number | null) => void) | null = null;

  /** Bytes final from the start; null once the order is broken. */
  get appended(): number | null {
    return this.#broken ? null : this.#appended;
  }

  /** True while a write that began has not ended. */
  get writing(): boolean {
    return this.#pending.length > 0;
  }

  /** A write of [offset, offset + length) begins; call the function returned once it has ended. */
  begin(offset: number, length: number): () => void {
    if (this.#broken) return () => {};
    if (offset !== this.#next) {
      this.break();
      return () => {};
    }
    const slot = { end: offset + length, done: false };
    this.#pending.push(slot);
    this.#next = slot.end;
    return () => {
      if (this.#broken) return;
      slot.done = true;
      const before = this.#appended;
      while (this.#pending[0]?.done) this.#appended = this.#pending.shift()!.end;
      if (this.#appended !== before) this.onChange?.(this.#appended);
    };
  }

  /** The size is set to `size` (truncate): in order only if nothing changes. */
  truncated(size: number): void {
    if (size !== this.#next || this.#pending.length > 0) this.break();
  }

  break(): void {
    if (this.#broken) return;
    this.#broken = true;
    this.#pending = [];
    this.onChange?.(null);
  }
}
