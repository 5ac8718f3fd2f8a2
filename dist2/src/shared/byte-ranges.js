export class ByteRanges {
    #r = [];
    constructor(ranges = []) {
        for (const [s, e] of ranges)
            this.add(s, e);
    }
    get ranges() {
        return this.#r;
    }
    /** Total bytes covered. */
    get bytes() {
        return this.#r.reduce((n, [s, e]) => n + (e - s), 0);
    }
    /** Marks [start, end) present, merging with overlapping or adjacent ranges. */
    add(start, end) {
        if (end <= start)
            return;
        const out = [];
        let s = start;
        let e = end;
        let placed = false;
        for (const [rs, re] of this.#r) {
            if (re < s)
                out.push([rs, re]);
            else if (rs > e) {
                if (!placed) {
                    out.push([s, e]);
                    placed = true;
                }
                out.push([rs, re]);
            }
            else {
                s = Math.min(s, rs);
                e = Math.max(e, re);
            }
        }
        if (!placed)
            out.push([s, e]);
        this.#r = out;
    }
    /** True when every byte of [start, end) is present. */
    covers(start, end) {
        if (end <= start)
            return true;
        return this.#r.some(([s, e]) => s <= start && e >= end);
    }
    /** The parts of [start, end) that are not present, in order. */
    missing(start, end) {
        const out = [];
        let at = start;
        for (const [s, e] of this.#r) {
            if (e <= at)
                continue;
            if (s >= end)
                break;
            if (s > at)
                out.push([at, Math.min(s, end)]);
            at = Math.max(at, e);
            if (at >= end)
                break;
        }
        if (at < end)
            out.push([at, end]);
        return out;
    }
    /** Forgets everything at or beyond `size` (a truncate). */
    truncate(size) {
        this.#r = this.#r.filter(([s]) => s < size).map(([s, e]) => [s, Math.min(e, size)]);
    }
    toJSON() {
        return this.#r.map(([s, e]) => [s, e]);
    }
}
//# sourceMappingURL=byte-ranges.js.map