/**
 * rechunk: the FastCDC chunks of an edited file, reading only around the edits.
 *
 * Where a chunk that starts at `s` ends depends only on the bytes from `s` up to and including its
 * cut point (FastCDC hashes the byte at the cut before deciding), and near the end of the input on
 * how many bytes remain. So after an edit of bytes [ds, de) of a file whose committed chunking is
 * known ("base"):
 *   - every base chunk that ends before ds (cut byte < ds) is unchanged;
 *   - chunking restarts at the start of the base chunk holding byte ds - 1;
 *   - as soon as a new cut lands on a base boundary at or after de, chunking from there on is the
 *     base's again (FastCDC keeps no state across a cut), up to the next edit.
 * A change of size is an edit of the last `max` bytes (the end-of-input rule). Writes in the drive
 * never shift bytes (there is no insert in POSIX), so unchanged bytes keep their offsets.
 *
 * The result equals chunking the whole new file at once (a test checks it against chunkStarts) while
 * reading, hashing and uploading only ~the edited bytes plus up to a chunk or two on each side:
 * rewriting 1 MiB in the middle of a 1 GiB cloud-only file reads a few MiB, not 1 GiB.
 *
 * Runs on the calling thread: the work is proportional to the edit. Files written from scratch are
 * chunked whole in a worker (ChunkWorkerPool) instead.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_CHUNK_PARAMS, StreamingChunker } from './streaming-chunker.js';
/** Bytes read per step while re-chunking. */
const WINDOW = 4 * 1024 * 1024;
export async function rechunk(input) {
    const p = input.params ?? DEFAULT_CHUNK_PARAMS;
    const { size, base } = input;
    const baseSize = base.reduce((n, b) => n + b.size, 0);
    const edits = input.edits.map(([s, e]) => [s, e]);
    if (size !== baseSize)
        edits.push([Math.max(0, Math.min(size, baseSize) - p.max), size]);
    if (base.length === 0)
        edits.push([0, size]);
    const regions = merge(edits.map(([s, e]) => [Math.max(0, s), Math.min(e, size)])).filter(([s, e]) => s < e);
    const starts = new Set(base.map((b) => b.offset));
    const out = [];
    let readBytes = 0;
    let pos = 0; // everything before pos is settled; pos is a base boundary (or 0, or size)
    let bi = 0; // next base block to consider
    let ri = 0;
    while (ri < regions.length && pos < size) {
        const [ds] = regions[ri];
        let de = regions[ri][1];
        if (de <= pos) {
            ri++;
            continue;
        }
        // Restart at the base block holding byte ds - 1 (its cut may depend on byte ds).
        let s = pos;
        while (bi < base.length && base[bi].offset + base[bi].size <= Math.max(0, ds - 1)) {
            if (base[bi].offset >= pos)
                out.push({ ...base[bi], fresh: false });
            bi++;
        }
        if (bi < base.length)
            s = Math.max(pos, base[bi].offset);
        else
            s = Math.max(pos, baseSize > 0 ? Math.min(ds, baseSize) : 0);
        const chunker = new StreamingChunker(p);
        let at = s;
        let done = false;
        while (!done) {
            const n = Math.min(WINDOW, size - at);
            let chunks = [];
            if (n > 0) {
                const buf = Buffer.allocUnsafe(n);
                const got = await input.read(at, buf);
                if (got !== n)
                    throw new Error(`content ended early at ${at + got} of ${size}`);
                readBytes += n;
                chunks = chunker.push(buf);
                at += n;
            }
            if (at >= size)
                chunks = chunks.concat(chunker.end());
            for (const c of chunks) {
                const cStart = s + c.offset;
                const cEnd = cStart + c.data.length;
                out.push({
                    hash: createHash('sha256').update(c.data).digest('hex'),
                    size: c.data.length,
                    offset: cStart,
                    fresh: true,
                });
                // A later edit that begins at or before this cut changes what follows: keep going past it.
                while (ri + 1 < regions.length && regions[ri + 1][0] <= cEnd)
                    de = Math.max(de, regions[++ri][1]);
                if (cEnd >= size) {
                    pos = size;
                    done = true;
                    break;
                }
                if (cEnd >= de && starts.has(cEnd)) {
                    pos = cEnd;
                    done = true;
                    break;
                }
            }
            if (!done && at >= size) {
                pos = size;
                done = true;
            }
        }
        ri++;
        while (bi < base.length && base[bi].offset < pos)
            bi++;
    }
    for (; bi < base.length && pos < size; bi++) {
        if (base[bi].offset >= pos)
            out.push({ ...base[bi], fresh: false });
    }
    return { blocks: out, readBytes };
}
function merge(ranges) {
    const sorted = ranges.slice().sort((a, b) => a[0] - b[0]);
    const out = [];
    for (const [s, e] of sorted) {
        const last = out[out.length - 1];
        if (last && s <= last[1])
            last[1] = Math.max(last[1], e);
        else
            out.push([s, e]);
    }
    return out;
}
//# sourceMappingURL=rechunk.js.map