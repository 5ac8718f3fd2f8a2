/**
 * ByteRanges: a sorted list of disjoint, non-adjacent half-open byte ranges [start, end).
 *
 * Used for the bytes of a staged file that are present locally (written, or fetched from the base
 * revision): reads take present bytes locally and the rest from the base; filling never overwrites
 * present bytes. All operations keep the list merged, so its length stays small for the usual
 * write patterns (sequential writes merge into one range).
 */
export type Range = readonly [start: number, end: number];

export class ByteRanges {
  #r: [number, number][] = [];

  constructor(ranges: readonly Range[] = []) {
    for (const [s, e] of ranges) this.add(s, e);
  }

  get ranges(): readonly Range[] {
    return this.#r;
  }

  /** Total bytes covered. */
  get bytes(): number {
    return this.#r.reduce((n, [s, e]) => n + (e - s), 0);
  }

  /** Marks [start, end) present, merging with overlapping or adjacent ranges. */
  add(start: number, end: number): void {
    if (end <= start) return;
    const out: [number, number][] = [];
    let s = start;
    let e = end;
    let placed = false;
    for (const [rs, re] of this.#r) {
      if (re < s) out.push([rs, re]);
      else if (rs > e) {
        if (!placed) {
          out.push([s, e]);
          placed = true;
        }
        out.push([rs, re]);
      } else {
        s = Math.min(s, rs);
        e = Math.max(e, re);
      }
    }
    if (!placed) out.push([s, e]);
    this.#r = out;
  }

  /** True when every byte of [start, end) is present. */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    return this.#r.some(([s, e]) => s <= start && e >= end);
  }

  /** The parts of [start, end) that are not present, in order. */
  missing(start: number, end: number): Range[] {
    const out: Range[] = [];
    let at = start;
    for (const [s, e] of this.#r) {
      if (e <= at) continue;
      if (s >= end) break;
      if (s > at) out.push([at, Math.min(s, end)]);
      at = Math.max(at, e);
      if (at >= end) break;
    }
    if (at < end) out.push([at, end]);
    return out;
  }

  /** Forgets everything at or beyond `size` (a truncate). */
  truncate(size: number): void {
    this.#r = this.#r.filter(([s]) => s < size).map(([s, e]) => [s, Math.min(e, size)] as [number, number]);
  }

  toJSON(): Range[] {
    return this.#r.map(([s, e]) => [s, e]);
  }
}
