/**
 * The two chunking engines (chunk/cdc.ts) give the same boundaries: the binding's (native/cdc.cc)
 * against fastcdc-wasm's own glue, called directly, on random, repetitive and all-zero inputs of
 * sizes around each limit, with the default chunk sizes and with others (a non-power-of-two
 * average, min close to max, the crate's smallest). A mismatch would make a drive's blocks differ
 * from the web client's and from older drives', and dedup between them would stop.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { defaultCdc, gearTable, nativeCdc, wasmCdc } from '../../../../src/client/chunk/cdc.js';
import { chunkFile } from '../../../../src/client/chunk/chunk-file.js';
import { DEFAULT_CHUNK_PARAMS, type ChunkParams } from '../../../../src/client/chunk/streaming-chunker.js';
import { scopedEnv } from '../../../helpers/env.js';
import { prng } from '../../../helpers/prng.js';

const { get_chunks } = createRequire(import.meta.url)('fastcdc-wasm') as {
  get_chunks(b: Uint8Array, min: number, avg: number, max: number): Uint32Array;
};

/** fastcdc-wasm as shipped, whole buffer (minus the end offset it sometimes appends). */
function wasmStarts(data: Uint8Array, p: ChunkParams): number[] {
  return data.length ? [...get_chunks(data, p.min, p.avg, p.max)].filter((s) => s < data.length) : [];
}

t.test('the binding has a chunker (scripts/setup builds it) and chunking uses it by default', async (t) => {
  t.equal(nativeCdc()?.kind, 'native');
  const setFlag = scopedEnv(t, 'LOFT_CDC');
  setFlag(undefined);
  t.equal(defaultCdc().kind, 'native');
  setFlag('wasm');
  t.equal(defaultCdc().kind, 'wasm');
});

t.test('the gear table is fastcdc 1.0.5 table (its first and last entries)', async (t) => {
  const g = gearTable();
  t.equal(g.length, 256);
  t.same([g[0], g[1], g[254], g[255]], [0x5c95c078, 0x22408989, 0x2dce9187, 0x32e8ea7e]);
  t.ok(g.every((v) => v < 2 ** 31), 'every entry is 31-bit');
});

t.test('native boundaries equal fastcdc-wasm on many inputs and chunk sizes', async (t) => {
  const native = nativeCdc()!;
  const params: ChunkParams[] = [
    DEFAULT_CHUNK_PARAMS,
    { min: 64, avg: 256, max: 1024 }, // the crate's smallest
    { min: 2048, avg: 8192, max: 65536 },
    { min: 1000, avg: 3000, max: 9000 }, // avg not a power of two: log2 rounds
    { min: 64, avg: 300, max: 1024 },
    { min: 4096, avg: 16384, max: 16384 }, // avg = max
    { min: 60_000, avg: 65_536, max: 70_000 }, // min + min/2 > avg: no "hard" stretch
  ];
  const r = prng(17);
  const inputs = (p: ChunkParams): [string, Buffer][] => {
    const sizes = [0, 1, p.min - 1, p.min, p.min + 1, p.max - 1, p.max, p.max + 1, 3 * p.max + 12_345];
    const out: [string, Buffer][] = [];
    for (const n of sizes) {
      out.push([`random ${n}`, randomBytes(n)]);
      out.push([`zeros ${n}`, Buffer.alloc(n)]);
      out.push([`period-13 ${n}`, Buffer.from(Array.from({ length: n }, (_, i) => (i * 7) % 13))]);
    }
    // Low-entropy text: long runs of few byte values.
    const words = ['alpha ', 'beta ', 'gamma\n', 'delta\t'];
    out.push(['text', Buffer.from(Array.from({ length: 40_000 }, () => words[Math.floor(r() * 4)]).join(''))]);
    return out;
  };
  let compared = 0;
  for (const p of params) {
    for (const [name, data] of inputs(p)) {
      const want = wasmStarts(data, p);
      const got = native.starts(data, p);
      if (JSON.stringify(got) !== JSON.stringify(want)) t.same(got, want, `${name} at ${JSON.stringify(p)}`);
      compared++;
    }
  }
  // 20 MiB of random bytes at the default sizes: ~20 chunks, each boundary compared.
  const big = randomBytes(20 * 1024 * 1024);
  t.same(native.starts(big, DEFAULT_CHUNK_PARAMS), wasmStarts(big, DEFAULT_CHUNK_PARAMS), '20 MiB random');
  t.same(wasmCdc.starts(big, DEFAULT_CHUNK_PARAMS), wasmStarts(big, DEFAULT_CHUNK_PARAMS), 'wasmCdc is the glue');
  t.ok(compared > 150, `${compared} inputs compared`);
  // A view into a larger buffer is chunked as its own bytes only.
  const view = big.subarray(12_345, 12_345 + 9 * 1024 * 1024);
  t.same(native.starts(view, DEFAULT_CHUNK_PARAMS), wasmStarts(Buffer.from(view), DEFAULT_CHUNK_PARAMS));
});

t.test('bad chunk sizes and inputs are refused, not chunked', async (t) => {
  const native = nativeCdc()!;
  t.throws(() => native.starts(randomBytes(10), { min: 10, avg: 256, max: 1024 }), RangeError);
  t.throws(() => native.starts(randomBytes(10), { min: 64, avg: 100, max: 1024 }), RangeError);
  t.throws(() => native.starts(randomBytes(10), { min: 64, avg: 256, max: 512 }), RangeError);
});

t.test('chunkFile gives the same blocks with either engine', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-cdc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Crosses two 16 MiB read windows, so the carried tail is chunked by both engines too.
  const file = path.join(dir, 'f');
  writeFileSync(file, Buffer.concat([randomBytes(30 * 1024 * 1024), Buffer.alloc(5 * 1024 * 1024), randomBytes(777)]));
  const a = await chunkFile(file, undefined, { cdc: nativeCdc()! });
  const b = await chunkFile(file, undefined, { cdc: wasmCdc });
  t.ok(a.blocks.length > 20, `${a.blocks.length} blocks`);
  t.same(a, b);
});
