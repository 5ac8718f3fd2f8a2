/**
 * On-store encoding of one block: an 8-byte header then the payload, raw or brotli-compressed.
 *
 *   0..3  magic "LFB1" (format version 1)
 *   4     codec: 0 = raw, 1 = brotli
 *   5..7  reserved, zero
 *   8..   payload
 *
 * Compression is kept only when it saves at least MIN_SAVING of the block; a sample is tried first
 * so incompressible data (media, archives, encrypted files) costs almost no CPU. Brotli quality 1
 * was measured against deflate-1 and zstd-wasm (scripts/bench/compression.mjs, README): similar
 * ratio and speed, and node's zlib runs it on the libuv thread pool, off the event loop.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { LoftError } from '../shared/errors.js';
const MAGIC = Buffer.from('LFB1');
export const HEADER_SIZE = 8;
const RAW = 0;
const BROTLI = 1;
/** Blocks smaller than this are stored raw: the header and file-system overhead dominate. */
const MIN_COMPRESS_SIZE = 4096;
/** Bytes compressed as a probe before committing CPU to the whole block. */
const SAMPLE_SIZE = 64 * 1024;
/** Keep the compressed form only when it is at least this much smaller (fraction of the block). */
const MIN_SAVING = 0.1;
const brotli = promisify(zlib.brotliCompress);
const unbrotli = promisify(zlib.brotliDecompress);
function brotliParams(size) {
    return {
        params: {
            [zlib.constants.BROTLI_PARAM_QUALITY]: 1,
            [zlib.constants.BROTLI_PARAM_SIZE_HINT]: size,
        },
    };
}
function header(codec) {
    const h = Buffer.alloc(HEADER_SIZE);
    MAGIC.copy(h, 0);
    h[4] = codec;
    return h;
}
/** Encodes a block for storage; returns the header and payload as separate buffers (no copy). */
export async function encodeBlock(data, compression) {
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (compression === 'brotli' && raw.length >= MIN_COMPRESS_SIZE) {
        const sample = raw.subarray(0, SAMPLE_SIZE);
        const probe = sample.length < raw.length ? await brotli(sample, brotliParams(sample.length)) : null;
        if (!probe || probe.length <= sample.length * (1 - MIN_SAVING)) {
            const packed = await brotli(raw, brotliParams(raw.length));
            if (packed.length <= raw.length * (1 - MIN_SAVING))
                return [header(BROTLI), packed];
        }
    }
    return [header(RAW), raw];
}
/** Decodes a stored block; throws CORRUPT on an unknown header. */
export async function decodeBlock(stored, hash) {
    if (stored.length < HEADER_SIZE || !stored.subarray(0, 4).equals(MAGIC)) {
        throw new LoftError('CORRUPT', `block ${hash} has no valid header`);
    }
    const payload = stored.subarray(HEADER_SIZE);
    switch (stored[4]) {
        case RAW:
            return payload;
        case BROTLI:
            try {
                return await unbrotli(payload);
            }
            catch (cause) {
                throw new LoftError('CORRUPT', `block ${hash} does not decompress`, { cause });
            }
        default:
            throw new LoftError('CORRUPT', `block ${hash} has unknown codec ${stored[4]}`);
    }
}
//# sourceMappingURL=block-codec.js.map