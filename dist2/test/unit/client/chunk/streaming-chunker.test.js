import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import t from 'tap';
import { prng } from '../../../helpers/prng.js';
import { StreamingChunker } from '../../../../src/client/chunk/streaming-chunker.js';
const require = createRequire(import.meta.url);
const { get_chunks } = require('fastcdc-wasm');
const SMALL = { min: 2048, avg: 8192, max: 32768 };
/** Boundaries of the whole buffer chunked at once: the reference. */
function reference(data, p) {
    // Straight from fastcdc-wasm on the whole buffer (minus the end offset it sometimes appends).
    return data.length ? [...get_chunks(data, p.min, p.avg, p.max)].filter((s) => s < data.length) : [];
}
function streamed(data, p, nextSize) {
    const c = new StreamingChunker(p);
    const chunks = [];
    for (let o = 0; o < data.length;) {
        const n = Math.max(1, Math.min(nextSize(), data.length - o));
        for (const ch of c.push(data.subarray(o, o + n)))
            chunks.push({ offset: ch.offset, data: Buffer.from(ch.data) });
        o += n;
    }
    for (const ch of c.end())
        chunks.push({ offset: ch.offset, data: Buffer.from(ch.data) });
    return { starts: chunks.map((c) => c.offset), joined: Buffer.concat(chunks.map((c) => c.data)) };
}
t.test('boundaries are identical to whole-buffer chunking however the input is fed', async (t) => {
    const inputs = [
        ['random 3 MiB', randomBytes(3 * 1024 * 1024)],
        ['zeros (every chunk hits max)', Buffer.alloc(1024 * 1024)],
        ['text-like', Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(30000))],
        ['just under min', randomBytes(SMALL.min - 1)],
        ['exactly max', randomBytes(SMALL.max)],
        ['max + 1', randomBytes(SMALL.max + 1)],
        ['one byte', randomBytes(1)],
    ];
    for (const [name, data] of inputs) {
        const want = reference(data, SMALL);
        for (const seed of [1, 2, 3, 4, 5]) {
            const r = prng(seed);
            const feeds = [
                ['whole', () => data.length],
                ['1 byte', () => 1],
                ['random 1..100 KiB', () => 1 + Math.floor(r() * 100 * 1024)],
                ['random 1..3 x max', () => 1 + Math.floor(r() * 3 * SMALL.max)],
            ];
            for (const [feed, size] of feeds) {
                if (feed === '1 byte' && data.length > 100_000)
                    continue; // slow and covered by the others
                const got = streamed(data, SMALL, size);
                t.same(got.starts, want, `${name}, fed ${feed} (seed ${seed})`);
                t.ok(got.joined.equals(data), `${name}: chunks reassemble the input`);
            }
        }
    }
});
t.test('default 256K/1M/4M parameters on 40 MiB match the whole buffer', async (t) => {
    const data = randomBytes(40 * 1024 * 1024);
    const p = { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 };
    const want = reference(data, p);
    const r = prng(9);
    const got = streamed(data, p, () => 1 + Math.floor(r() * 8 * 1024 * 1024));
    t.same(got.starts, want);
    t.ok(want.length > 20, `${want.length} chunks`);
    t.equal(createHash('sha256').update(got.joined).digest('hex'), createHash('sha256').update(data).digest('hex'));
});
t.test('bounded memory: the carry never exceeds max + one push', async (t) => {
    const c = new StreamingChunker(SMALL);
    const piece = randomBytes(10_000);
    let emitted = 0;
    for (let i = 0; i < 500; i++)
        emitted += c.push(piece).reduce((n, ch) => n + ch.data.length, 0);
    emitted += c.end().reduce((n, ch) => n + ch.data.length, 0);
    t.equal(emitted, 500 * piece.length);
});
t.test('an empty stream has no chunks; bad parameters are refused', async (t) => {
    t.same(new StreamingChunker(SMALL).end(), []);
    t.throws(() => new StreamingChunker({ min: 10, avg: 5, max: 20 }));
});
//# sourceMappingURL=streaming-chunker.test.js.map