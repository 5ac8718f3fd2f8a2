/**
 * rechunk: re-chunking an edited file around its edits must give exactly the chunks of the whole new
 * content (boundaries from chunkStarts, SHA-256 per piece), keep untouched base blocks as they are,
 * and read little of a large file for a small edit. Small chunk params so that a few KiB hold many
 * chunks; every case is seeded and its seed is in each assertion message.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { rechunk } from '../../../../src/client/chunk/rechunk.js';
import { chunkStarts } from '../../../../src/client/chunk/streaming-chunker.js';
import { prng } from '../../../helpers/prng.js';
const P = { min: 64, avg: 256, max: 1024 };
const KiB = 1024;
const MiB = 1024 * KiB;
/** Whole-buffer reference: boundaries from fastcdc at once, SHA-256 of each piece, with offsets. */
function whole(data) {
    const starts = chunkStarts(data, P);
    return starts.map((s, i) => {
        const e = i + 1 < starts.length ? starts[i + 1] : data.length;
        return { hash: createHash('sha256').update(data.subarray(s, e)).digest('hex'), size: e - s, offset: s };
    });
}
const int = (r, lo, hi) => lo + Math.floor(r() * (hi - lo + 1)); // [lo, hi]
/** Fills [s, e) with bytes of a xorshift stream seeded from r (much faster than r() per byte). */
function noise(r, buf, s, e) {
    let x = Math.floor(r() * 0xffffffff) || 1;
    for (let i = s; i < e; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        buf[i] = x & 0xff;
    }
}
/** Random bytes, or (half the time) runs of zeros and repeats between random stretches: max-size chunks. */
function content(r, size) {
    const out = Buffer.alloc(size);
    const lowEntropy = r() < 0.5;
    for (let i = 0; i < size;) {
        const run = Math.min(size - i, int(r, 1, 4 * P.max));
        if (lowEntropy && r() < 0.4) {
            if (r() < 0.5)
                out.fill(int(r, 0, 255), i, i + run);
            // else: zeros
        }
        else {
            noise(r, out, i, i + run);
        }
        i += run;
    }
    return out;
}
/** Overwrites [s, e) of buf with new bytes (random or, sometimes, zeros) that differ in at least one byte. */
function scribble(r, buf, s, e) {
    if (e <= s)
        return;
    if (r() < 0.2)
        buf.fill(0, s, e);
    else
        noise(r, buf, s, e);
    buf[s] ^= 0x5a; // at least one byte really changes (the reference does not care; reuse does)
}
async function run(c, base) {
    let firstRead = Infinity;
    const { blocks, readBytes } = await rechunk({
        size: c.next.length,
        base,
        edits: c.edits,
        params: P,
        read: async (offset, out) => {
            firstRead = Math.min(firstRead, offset);
            return c.next.copy(out, 0, offset, Math.min(c.next.length, offset + out.length));
        },
    });
    return { blocks, readBytes, firstRead };
}
/** Index of the first extent that differs (or where one list ends early); -1 when equal. */
function firstDiff(got, want) {
    const n = Math.max(got.length, want.length);
    for (let i = 0; i < n; i++) {
        const g = got[i];
        const w = want[i];
        if (!g || !w || g.hash !== w.hash || g.size !== w.size || g.offset !== w.offset)
            return i;
    }
    return -1;
}
const brief = (xs, at) => xs.slice(Math.max(0, at - 1), at + 2).map((b) => `${b.offset}+${b.size}:${b.hash.slice(0, 8)}`);
/**
 * The checks every case gets, as one assertion listing what is wrong (short texts: hundreds of
 * cases run). Returns the outcome for case-specific checks.
 */
async function check(t, c) {
    const baseBlocks = whole(c.old);
    const got = await run(c, baseBlocks);
    const want = whole(c.next);
    const problems = [];
    const placed = got.blocks.map(({ hash, size, offset }) => ({ hash, size, offset }));
    const d = firstDiff(placed, want);
    if (d >= 0)
        problems.push(`differs from whole-buffer chunking at block ${d}: got ${got.blocks.length} blocks ` +
            `[${brief(placed, d)}], want ${want.length} [${brief(want, d)}]`);
    const base = new Map(baseBlocks.map((b) => [b.offset, b]));
    const badKept = got.blocks.filter((b) => {
        if (b.fresh)
            return false;
        const o = base.get(b.offset);
        return !o || o.hash !== b.hash || o.size !== b.size;
    });
    if (badKept.length)
        problems.push(`kept (fresh: false) blocks that are not base blocks: ${brief(badKept, 1)}`);
    // Base blocks that end before the first changed byte (minus the byte the cut looks at) are kept.
    const sizeEdit = c.next.length !== c.old.length ? [Math.max(0, Math.min(c.next.length, c.old.length) - P.max)] : [];
    const firstChange = Math.min(...c.edits.map(([s]) => s), ...sizeEdit, c.old.length === 0 ? 0 : Infinity);
    const needless = got.blocks.filter((b) => b.fresh && b.offset + b.size < firstChange);
    if (needless.length)
        problems.push(`recomputed blocks wholly before the first change ${firstChange}: ${brief(needless, 1)}`);
    if (got.readBytes > 0 && got.firstRead < Math.max(0, Math.min(firstChange, c.next.length) - P.max))
        problems.push(`read from ${got.firstRead}, more than one max chunk before the first change ${firstChange}`);
    t.same(problems, [], `${c.label} (old ${c.old.length} B, new ${c.next.length} B, edits ${JSON.stringify(c.edits)})`);
    return got;
}
// ---- case generators ------------------------------------------------------------------------------
function randomRange(r, size, maxLen) {
    const s = int(r, 0, size - 1);
    return [s, Math.min(size, s + int(r, 1, maxLen))];
}
function overwrites(seed) {
    const r = prng(seed);
    const old = content(r, int(r, 1, r() < 0.8 ? 24 * KiB : 160 * KiB));
    const next = Buffer.from(old);
    const edits = [];
    const n = int(r, 1, 6);
    for (let i = 0; i < n; i++) {
        const [s, e] = randomRange(r, next.length, r() < 0.7 ? 300 : 4 * P.max);
        scribble(r, next, s, e);
        edits.push([s, e]);
    }
    return { label: `seed ${seed} overwrites x${n}`, old, next, edits };
}
function atEdges(seed) {
    const r = prng(seed);
    const old = content(r, int(r, 1, 24 * KiB));
    const next = Buffer.from(old);
    const len = int(r, 1, r() < 0.5 ? 16 : 2 * P.max);
    const where = int(r, 0, 2);
    const edits = [];
    if (where !== 1) {
        const e = Math.min(next.length, len);
        scribble(r, next, 0, e);
        edits.push([0, e]);
    }
    if (where !== 0) {
        const s = Math.max(0, next.length - len);
        scribble(r, next, s, next.length);
        edits.push([s, next.length]);
    }
    return { label: `seed ${seed} edit at ${['start', 'end', 'start and end'][where]}`, old, next, edits };
}
/** Edits that start or end exactly on a base chunk boundary (or one byte either side of it). */
function atBoundaries(seed) {
    const r = prng(seed);
    const old = content(r, int(r, 2 * P.max, 32 * KiB));
    const base = whole(old);
    const next = Buffer.from(old);
    const edits = [];
    const n = int(r, 1, 3);
    const kinds = [];
    for (let i = 0; i < n; i++) {
        const b = base[int(r, 0, base.length - 1)];
        const end = b.offset + b.size;
        const len = int(r, 1, r() < 0.5 ? 3 : P.max);
        const kind = int(r, 0, 5);
        kinds.push(String(kind));
        const choices = [
            [b.offset, b.offset + len], // starts on a boundary
            [b.offset - len, b.offset], // ends on a boundary
            [b.offset - 1, b.offset], // the last byte before a boundary (the byte a cut looks at is the next one)
            [end - 1, end + 1], // straddles the block's end
            [b.offset, end], // exactly one whole block
            [end, end + 1], // the byte right after the block: the one its cut looked at
        ];
        const [s, e] = choices[kind];
        const cs = Math.max(0, s);
        const ce = Math.min(next.length, e);
        if (ce <= cs)
            continue;
        scribble(r, next, cs, ce);
        edits.push([cs, ce]);
    }
    if (edits.length === 0) {
        scribble(r, next, 0, 1);
        edits.push([0, 1]);
    }
    return { label: `seed ${seed} boundary edits [${kinds.join(',')}]`, old, next, edits };
}
/** Truncated to a smaller size, then maybe extended again (zeros) and written: like the drive's baseLimit. */
function truncations(seed) {
    const r = prng(seed);
    const old = content(r, int(r, 1, 32 * KiB));
    const limit = int(r, 0, old.length - 1);
    let size = limit;
    const edits = [];
    let label = `seed ${seed} truncate ${old.length} -> ${limit}`;
    if (r() < 0.5) {
        size = limit + int(r, 1, 8 * KiB);
        label += ` -> grow to ${size}`;
    }
    const next = Buffer.alloc(size);
    old.copy(next, 0, 0, limit);
    const writes = int(r, 0, 3);
    for (let i = 0; i < writes && size > 0; i++) {
        const [s, e] = randomRange(r, size, 600);
        scribble(r, next, s, e);
        edits.push([s, e]);
    }
    if (limit < size)
        edits.push([limit, size]); // what the push loop adds for bytes past baseLimit
    if (writes)
        label += ` + ${writes} write(s)`;
    return { label, old, next, edits };
}
function extensions(seed) {
    const r = prng(seed);
    const old = content(r, int(r, 0, 32 * KiB));
    const extra = content(r, int(r, 1, r() < 0.7 ? 2 * P.max : 16 * KiB));
    const next = Buffer.concat([old, extra]);
    const edits = [[old.length, next.length]];
    const writes = old.length ? int(r, 0, 2) : 0;
    for (let i = 0; i < writes; i++) {
        const [s, e] = randomRange(r, old.length, 500);
        scribble(r, next, s, e);
        edits.push([s, e]);
    }
    return { label: `seed ${seed} append ${extra.length} + ${writes} write(s)`, old, next, edits };
}
/** Edits reported wider than the real change, out of order, overlapping, or reaching past the end. */
function sloppyEdits(seed) {
    const r = prng(seed);
    const old = content(r, int(r, 1, 24 * KiB));
    const next = Buffer.from(old);
    const edits = [];
    const n = int(r, 1, 4);
    for (let i = 0; i < n; i++) {
        const [s, e] = randomRange(r, next.length, 400);
        if (r() < 0.5)
            scribble(r, next, s, e); // else: reported but unchanged (a write of the same bytes)
        edits.push([Math.max(0, s - int(r, 0, 50)), e + (r() < 0.2 ? int(r, 1, 5000) : 0)]);
    }
    if (r() < 0.3)
        edits.push(edits[0]); // duplicate
    edits.reverse();
    return { label: `seed ${seed} sloppy edits x${n}`, old, next, edits };
}
const generators = [
    ['in-place overwrites of random ranges', overwrites, 200],
    ['edits at offset 0 and at the very end', atEdges, 80],
    ['edits touching base chunk boundaries exactly', atBoundaries, 150],
    ['truncation to a smaller size, maybe grown again', truncations, 120],
    ['extension by appending bytes', extensions, 100],
    ['over-reported, unordered, overlapping edits', sloppyEdits, 60],
];
generators.forEach(([name, gen, count], g) => {
    // Seeds: 0x1000 per generator, so a failing seed names its generator too.
    const base = 0x1000 * (g + 1);
    t.test(name, async (t) => {
        for (let i = 0; i < count; i++)
            await check(t, gen(base + i));
    });
});
t.test('empty file -> content, content -> empty, no edits at all', async (t) => {
    for (let seed = 1; seed <= 20; seed++) {
        const r = prng(seed);
        const data = content(r, int(r, 1, 20 * KiB));
        // The written range as the caller reports it, and none at all (an empty base implies it).
        const a = await check(t, {
            label: `seed ${seed} empty -> content`,
            old: Buffer.alloc(0),
            next: data,
            edits: [[0, data.length]],
        });
        t.ok(a.blocks.every((b) => b.fresh), `seed ${seed}: every block of a new file is fresh`);
        await check(t, {
            label: `seed ${seed} empty -> content, no edits`,
            old: Buffer.alloc(0),
            next: data,
            edits: [],
        });
        const b = await check(t, {
            label: `seed ${seed} content -> empty`,
            old: data,
            next: Buffer.alloc(0),
            edits: [],
        });
        t.same(b.blocks, [], `seed ${seed}: size 0 has no blocks`);
        t.equal(b.readBytes, 0, `seed ${seed}: nothing to read for an empty file`);
        const c = await check(t, {
            label: `seed ${seed} unchanged`,
            old: data,
            next: Buffer.from(data),
            edits: [],
        });
        t.ok(c.blocks.every((x) => !x.fresh), `seed ${seed}: no edits: every block kept`);
        t.equal(c.readBytes, 0, `seed ${seed}: no edits: nothing read`);
    }
    const e = await check(t, {
        label: 'empty -> empty',
        old: Buffer.alloc(0),
        next: Buffer.alloc(0),
        edits: [],
    });
    t.same(e.blocks, []);
});
t.test('a small edit of a large file reads and re-hashes little of it', async (t) => {
    // 1 MiB, one 100-byte edit: only the chunks around it are recomputed, and reading starts next to
    // it (rechunk reads in windows of a few MiB, so here the read runs on to the end of the file).
    for (let seed = 1; seed <= 3; seed++) {
        const r = prng(seed);
        const old = content(r, MiB);
        const next = Buffer.from(old);
        const s = int(r, 0, MiB - 100);
        scribble(r, next, s, s + 100);
        const label = `seed ${seed} 100 B at ${s} of 1 MiB`;
        const got = await check(t, { label, old, next, edits: [[s, s + 100]] });
        const fresh = got.blocks.filter((b) => b.fresh);
        const freshBytes = fresh.reduce((n, b) => n + b.size, 0);
        t.ok(freshBytes < 16 * KiB, `${label}: ${fresh.length} fresh block(s), ${freshBytes} B (< 16 KiB)`);
        t.ok(got.readBytes <= MiB - got.firstRead, `${label}: read ${got.readBytes} B once, from ${got.firstRead}`);
    }
    // A file much larger than rechunk's read window: one edit reads a small part of it.
    const r = prng(99);
    const old = content(r, 24 * MiB);
    const next = Buffer.from(old);
    const s = 17 * MiB + 12345;
    scribble(r, next, s, s + 100);
    const got = await check(t, { label: 'seed 99 100 B in 24 MiB', old, next, edits: [[s, s + 100]] });
    t.ok(got.readBytes <= 6 * MiB, `seed 99: a 100 B edit in 24 MiB read ${got.readBytes} B (<= 6 MiB)`);
    const freshBytes = got.blocks.filter((b) => b.fresh).reduce((n, b) => n + b.size, 0);
    t.ok(freshBytes < 16 * KiB, `seed 99: ${freshBytes} B re-hashed (< 16 KiB)`);
});
//# sourceMappingURL=rechunk.test.js.map