/**
 * Content-defined chunk boundaries of a whole buffer, from one of two engines that give the same
 * answer: Loft's libfuse 3 binding (native/cdc.cc) when it is built, else fastcdc-wasm, which the
 * web client also runs (web-routes.ts serves it). Blocks made by either deduplicate against the
 * other's: cdc.test.ts holds the two equal on many inputs and chunk sizes.
 *
 * Why two: the native loop is ~1.75× faster (2.4 GB/s against 1.4 GB/s on this project's 2-core
 * machines, `scripts/bench/chunk.mjs`), and a new file's chunking shares those cores with its
 * upload and the server. `LOFT_CDC=wasm` keeps the wasm engine (to compare).
 *
 * The gear table of fastcdc 1.0.5 is its own definition, computed here: the AES-256-CTR keystream of
 * an all-zero key and nonce over 1,024 zero bytes, read as 256 big-endian u32, each mod 2^31.
 */
import { createCipheriv } from 'node:crypto';
import { createRequire } from 'node:module';
import { optionalBinding } from '../../shared/native-binding.js';
import type { ChunkParams } from './streaming-chunker.js';

export interface Cdc {
  readonly kind: 'native' | 'wasm';
  /** Chunk start offsets of `data` as a whole input (none for an empty one). */
  starts(data: Uint8Array, p: ChunkParams): number[];
}

const require = createRequire(import.meta.url);

/** fastcdc 1.0.5's gear table, from its definition (see above). */
export function gearTable(): Uint32Array {
  const stream = createCipheriv('aes-256-ctr', Buffer.alloc(32), Buffer.alloc(16)).update(Buffer.alloc(1024));
  const gear = new Uint32Array(256);
  for (let i = 0; i < 256; i++) gear[i] = stream.readUInt32BE(i * 4) % 2 ** 31;
  return gear;
}

export const wasmCdc: Cdc = {
  kind: 'wasm',
  starts(data, p) {
    if (data.length === 0) return [];
    const { get_chunks } = require('fastcdc-wasm') as {
      get_chunks(bytes: Uint8Array, min: number, avg: number, max: number): Uint32Array;
    };
    // get_chunks sometimes also lists the input's length as a last "start" (an empty chunk).
    const out: number[] = [];
    for (const s of get_chunks(data, p.min, p.avg, p.max)) if (s < data.length) out.push(s);
    return out;
  },
};

type CdcStarts = (data: Uint8Array, min: number, avg: number, max: number, gear: Uint32Array) => Uint32Array;

let native: Cdc | null | undefined;

/** The binding's chunker when it is built and has one, else null (never throws). */
export function nativeCdc(): Cdc | null {
  if (native !== undefined) return native;
  native = null;
  const { cdcStarts } = (optionalBinding() ?? {}) as { cdcStarts?: CdcStarts };
  if (!cdcStarts) return native; // not built, not loadable here (no libfuse 3), or an older build
  const gear = gearTable();
  const starts = cdcStarts;
  native = { kind: 'native', starts: (data, p) => Array.from(starts(data, p.min, p.avg, p.max, gear)) };
  return native;
}

/** The engine chunking uses: the native one unless it is missing or LOFT_CDC=wasm. */
export function defaultCdc(): Cdc {
  return (process.env.LOFT_CDC !== 'wasm' && nativeCdc()) || wasmCdc;
}
