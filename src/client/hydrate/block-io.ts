/**
 * BlockIo: the two per-block costs of a cold read that need not run on the JavaScript thread, the
 * SHA-256 of a downloaded block and the write of its cache file. Loft's libfuse 3 binding runs each
 * as one job on libuv's thread pool (native/block-io.cc); without it (not built, or an older build)
 * node's crypto and fs do the same on this thread and in three fs round trips.
 *
 * On the JavaScript thread, hashing was ~10% of a cold read's time and the cache write's
 * open/write/close ~10% more (profile in the README, "Cold sequential read"); moving them to the
 * thread pool did not pay on 2 cores (see defaultBlockIo).
 */
import fs from 'node:fs/promises';
import { sha256hex } from '../../shared/hash.js';
import { optionalBinding } from '../../shared/native-binding.js';

export interface BlockIo {
  /** Lower-case hex SHA-256 of the bytes. */
  sha256(data: Buffer): Promise<string>;
  /** Creates or truncates `file` and writes the bytes (rejects with an errno `code`). */
  writeFile(file: string, data: Buffer): Promise<void>;
  /** Where the work runs: "native" (the thread pool) or "node" (this thread, node's fs). */
  readonly kind: 'native' | 'node';
}

/** node's crypto and fs: hashing on this thread. */
export const nodeBlockIo: BlockIo = {
  sha256: (data) => Promise.resolve(sha256hex(data)),
  writeFile: (file, data) => fs.writeFile(file, data),
  kind: 'node',
};

interface NativeBlockIo {
  sha256?: (data: Buffer) => Promise<string>;
  writeFile?: (file: string, data: Buffer) => Promise<void>;
}

let native: BlockIo | null | undefined;

/** The binding's block I/O when it is built and offers it, else null (never throws). */
export function nativeBlockIo(): BlockIo | null {
  if (native !== undefined) return native;
  native = null;
  const { sha256, writeFile } = (optionalBinding() ?? {}) as NativeBlockIo;
  if (sha256 && writeFile) native = { sha256, writeFile, kind: 'native' };
  return native;
}

/**
 * What a mount uses: node's, unless LOFT_NATIVE_BLOCK_IO=1 asks for the binding's. Measured on this
 * project's 2-core machines (README, "Cold sequential read"), the thread-pool jobs made the cold read
 * slower and cost the mount more CPU, not less; kept to measure again where cores are free.
 */
export function defaultBlockIo(): BlockIo {
  const n = nativeBlockIo();
  if (n && process.env.LOFT_NATIVE_BLOCK_IO === '1') return n;
  if (n && process.env.LOFT_NATIVE_BLOCK_IO === 'write') return { ...nodeBlockIo, writeFile: n.writeFile };
  return nodeBlockIo;
}
