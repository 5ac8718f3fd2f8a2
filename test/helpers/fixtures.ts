/** Puts files on the server through the HTTP API (fixed-size blocks), as another device would. */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import { Api } from './api.js';

export const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (fast): a seed-derived pattern, distinct per block. */
export function pseudoRandom(size: number, seed = 1): Buffer {
  // Unpooled, so the words are aligned for the Uint32Array view (the same bytes as writeUInt32LE
  // on a little-endian machine, 4× faster: the simulation makes every write's content here).
  const out = Buffer.allocUnsafeSlow(size);
  const le = os.endianness() === 'LE';
  const words = new Uint32Array(out.buffer, out.byteOffset, size >>> 2);
  let x = seed >>> 0 || 1;
  for (let w = 0; w < words.length; w++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if (le) words[w] = x >>> 0;
    else out.writeUInt32LE(x >>> 0, w * 4);
  }
  for (let i = size - (size % 4); i < size; i++) out[i] = i & 0xff;
  return out;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Uploads `data` in `blockSize` blocks and commits it at `path`; returns the new revision. */
export async function putFile(
  api: Api,
  path: string,
  data: Buffer,
  blockSize = MiB,
  parentRev: number | null = null,
): Promise<number> {
  const blocks = [];
  for (let o = 0; o < data.length; o += blockSize) {
    const b = await api.putBlock(data.subarray(o, o + blockSize));
    if (b.status >= 300) throw new Error(`block upload failed: ${b.status}`);
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
  if (r.status !== 200) throw new Error(`commit failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.rev as number;
}

/** Reads `length` bytes at `offset` of a file (short at end of file). */
export async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
