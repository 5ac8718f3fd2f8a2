/** Puts files on the server through the HTTP API (fixed-size blocks), as another device would. */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
export const MiB = 1024 * 1024;
/** Deterministic pseudo-random bytes (fast): a seed-derived pattern, distinct per block. */
export function pseudoRandom(size, seed = 1) {
    const out = Buffer.allocUnsafe(size);
    let x = seed >>> 0 || 1;
    for (let i = 0; i + 4 <= size; i += 4) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        out.writeUInt32LE(x >>> 0, i);
    }
    for (let i = size - (size % 4); i < size; i++)
        out[i] = i & 0xff;
    return out;
}
export function sha256(data) {
    return createHash('sha256').update(data).digest('hex');
}
/** Uploads `data` in `blockSize` blocks and commits it at `path`; returns the new revision. */
export async function putFile(api, path, data, blockSize = MiB, parentRev = null) {
    const blocks = [];
    for (let o = 0; o < data.length; o += blockSize) {
        const b = await api.putBlock(data.subarray(o, o + blockSize));
        if (b.status >= 300)
            throw new Error(`block upload failed: ${b.status}`);
        blocks.push({ hash: b.hash, size: b.size });
    }
    const r = await api.post('/v1/commit', {
        path,
        parentRev,
        blocks,
        size: data.length,
        mtime: Date.now(),
        mode: 0o644,
    });
    if (r.status !== 200)
        throw new Error(`commit failed: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.rev;
}
/** Reads `length` bytes at `offset` of a file (short at end of file). */
export async function readAt(file, offset, length) {
    const fh = await fs.open(file, 'r');
    try {
        const buf = Buffer.alloc(length);
        const { bytesRead } = await fh.read(buf, 0, length, offset);
        return buf.subarray(0, bytesRead);
    }
    finally {
        await fh.close();
    }
}
//# sourceMappingURL=fixtures.js.map