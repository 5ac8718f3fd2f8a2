/**
 * chunkFile: FastCDC chunks of a file with their SHA-256, streaming with bounded memory.
 *
 * The file is read straight into a region laid out as [carry room | window] and chunked in place:
 * a Buffer the native chunker reads (cdc.ts), or, with the wasm engine, a region of the chunker's
 * wasm memory, so that no window is copied into and out of wasm (the stock glue copies the whole
 * window in and back out, and the streaming wrapper concatenates the carry: together ~30% of the
 * thread's time, profiled). Chunk finality follows the same rule as
 * StreamingChunker (a chunk is final once `max` bytes follow its start, or at end of file), so the
 * boundaries equal whole-buffer chunking; the carried tail (< max bytes) is moved to the front.
 *
 * The next window is read on the thread pool while this one is chunked and hashed (SHA-256 on this
 * thread, straight from the region: WebCrypto's async digest measured slower, its per-call copy
 * and job setup costing as much as hashing). Memory: two regions of (max + window) bytes.
 *
 * StreamingChunker is the same rule for any stream of bytes; this is its specialisation for files,
 * measured at ~750 MB/s against ~570 MB/s for StreamingChunker + hashing (scripts/bench/chunk.mjs).
 * Both are checked against whole-buffer chunking by tests.
 *
 * Call it from a worker thread (ChunkWorkerPool) so the thread that answers FUSE stays free.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { nodeFs, type LocalFs } from '../../shared/local-fs.js';
import type { BlockRef } from '../../shared/protocol.js';
import { defaultCdc, type Cdc } from './cdc.js';
import type { Frontier } from './frontier.js';
import { LoftError } from '../../shared/errors.js';
import { DEFAULT_CHUNK_PARAMS, type ChunkParams } from './streaming-chunker.js';

/** Bytes read per step: a few max-size chunks, so most of each window is final. */
const READ_WINDOW = 16 * 1024 * 1024;

interface WasmExports {
  memory: { buffer: ArrayBuffer };
  get_chunks(retptr: number, ptr: number, len: number, min: number, avg: number, max: number): void;
  __wbindgen_malloc(size: number): number;
  __wbindgen_free(ptr: number, size: number): void;
  __wbindgen_add_to_stack_pointer(delta: number): number;
}

const require = createRequire(import.meta.url);
// The instance behind fastcdc-wasm's own glue (0.1.0 exports it as __wasm); calls follow that glue.
const wasm = (require('fastcdc-wasm') as { __wasm: WasmExports }).__wasm;

/** Chunk starts of `len` bytes at `ptr` in wasm memory (the end offset, sometimes listed, dropped). */
function startsInPlace(ptr: number, len: number, p: ChunkParams): number[] {
  const ret = wasm.__wbindgen_add_to_stack_pointer(-16);
  try {
    wasm.get_chunks(ret, ptr, len, p.min, p.avg, p.max);
    // Views are made after the call: it may have grown (and so replaced) the memory buffer.
    const i32 = new Int32Array(wasm.memory.buffer);
    const r0 = i32[ret / 4]!;
    const r1 = i32[ret / 4 + 1]!;
    const raw = new Uint32Array(wasm.memory.buffer, r0, r1).slice();
    wasm.__wbindgen_free(r0, r1 * 4);
    const out: number[] = [];
    for (const s of raw) if (s < len) out.push(s);
    return out;
  } finally {
    wasm.__wbindgen_add_to_stack_pointer(16);
  }
}

/** A region a file window is read into and chunked in place. */
interface Region {
  /** Its bytes now: wasm memory is replaced when it grows, so take a new view after any wasm call. */
  view(): Uint8Array;
  /** Chunk starts of view()[at, at + len) as a whole input. */
  starts(at: number, len: number, p: ChunkParams): number[];
  free(): void;
}

function wasmRegion(size: number): Region {
  const ptr = wasm.__wbindgen_malloc(size);
  return {
    view: () => new Uint8Array(wasm.memory.buffer, ptr, size),
    starts: (at, len, p) => startsInPlace(ptr + at, len, p),
    free: () => wasm.__wbindgen_free(ptr, size),
  };
}

/**
 * Free buffers of bufferRegion, by size: a worker chunks file after file (a `tar x` of small files
 * is thousands), and two fresh 20 MiB buffers per file cost page faults, munmaps and GCs (V8 counts
 * them as external memory). At most two are kept per size: one chunkFile's pair.
 */
const spare = new Map<number, Buffer[]>();

function bufferRegion(size: number, cdc: Cdc): Region {
  const buf = spare.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  return {
    view: () => buf,
    starts: (at, len, p) => cdc.starts(buf.subarray(at, at + len), p),
    free: () => {
      const kept = spare.get(size) ?? [];
      if (kept.length < 2) spare.set(size, [...kept, buf]);
    },
  };
}

export interface ChunkedFile {
  blocks: BlockRef[];
  size: number;
}

export interface ChunkOptions {
  /**
   * Told of the blocks of each window as soon as they are final, in order (an upload starts
   * sending them while the rest of the file is chunked); the result still lists them all.
   */
  onBlocks?: (blocks: BlockRef[]) => void;
  /** Stops between windows (the upload it served was given up); the promise rejects. */
  signal?: AbortSignal;
  /** The chunking engine (default: cdc.ts's defaultCdc). */
  cdc?: Cdc;
  /**
   * The file is still being written (chunk-ahead.ts): only bytes below the frontier are read, each
   * window once they are final, and the file ends where the frontier finishes (CONFLICT if it is
   * shorter then). Without one, the file ends at its end of file.
   */
  frontier?: Frontier;
}

export async function chunkFile(
  path: string,
  params: ChunkParams = DEFAULT_CHUNK_PARAMS,
  options: ChunkOptions = {},
  /** The file system `path` is on (the real one but in the simulation). */
  fs: LocalFs = nodeFs,
): Promise<ChunkedFile> {
  const room = params.max; // the carry is always shorter than max
  const regionSize = room + READ_WINDOW;
  const cdc = options.cdc ?? defaultCdc();
  const region = () => (cdc.kind === 'wasm' ? wasmRegion(regionSize) : bufferRegion(regionSize, cdc));
  // Two regions: the next window is read (thread pool) while this one is chunked and hashed.
  const regions = [region(), region()] as const;
  const fh = await fs.open(path, 'r');
  const blocks: BlockRef[] = [];

  const { frontier } = options;
  /** Reads up to one window at `offset` into region `r`; re-reads if wasm memory moved meanwhile. */
  const readWindow = async (r: Region, offset: number): Promise<number> => {
    let want = READ_WINDOW;
    if (frontier) {
      await frontier.wait(offset + READ_WINDOW);
      want = Math.max(0, Math.min(READ_WINDOW, frontier.at - offset)); // < READ_WINDOW: final
    }
    for (;;) {
      const bytes = r.view();
      const window = bytes.subarray(room, room + READ_WINDOW);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(window, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      // Growing wasm memory replaces its ArrayBuffer; bytes read into the old one must be read
      // again (never chunk or hash a window that might not hold the file's bytes).
      if (r.view().buffer === bytes.buffer) return got;
    }
  };

  let size = 0;
  let carry = 0;
  let cur = 0;
  try {
    // A read not awaited yet may fail first (a frontier that failed): handled where it is awaited.
    const read = (r: Region, offset: number) => {
      const p = readWindow(r, offset);
      p.catch(() => {});
      return p;
    };
    let reading = read(regions[0], 0);
    for (;;) {
      const got = await reading;
      options.signal?.throwIfAborted();
      size += got;
      const eof = got < READ_WINDOW;
      if (!eof) reading = read(regions[cur ^ 1]!, size);
      const here = regions[cur]!;
      const start = room - carry;
      const len = carry + got;
      if (len === 0) break;
      const starts = here.starts(start, len, params);
      const mem = here.view().subarray(start, start + len);
      let keepFrom = len;
      const found = blocks.length;
      for (let i = 0; i < starts.length; i++) {
        const s = starts[i]!;
        if (!eof && s + params.max > len) {
          keepFrom = s;
          break;
        }
        const e = i + 1 < starts.length ? starts[i + 1]! : len;
        blocks.push({ hash: createHash('sha256').update(mem.subarray(s, e)).digest('hex'), size: e - s });
      }
      if (options.onBlocks && blocks.length > found) options.onBlocks(blocks.slice(found));
      if (eof) break;
      // Move the carried tail in front of the next window (already being read into the other region).
      carry = len - keepFrom;
      regions[cur ^ 1]!.view().set(mem.subarray(keepFrom), room - carry);
      cur ^= 1;
    }
  } finally {
    await fh.close();
    for (const r of regions) r.free();
  }
  if (frontier && size !== frontier.at)
    throw new LoftError(
      'CONFLICT',
      `${path} ended at ${size} bytes, not ${frontier.at}, while it was chunked`,
    );
  return { blocks, size };
}
