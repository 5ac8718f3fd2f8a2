/**
 * Loads Loft's fork of fuse-native (native/fuse-native: libfuse 2, the second backend), built from
 * source by scripts/setup, and checks it speaks the interface this file was written for. Anything
 * else (not built, no libfuse 2, another ABI) is an error saying why: never a quiet fallback to a
 * binding without Loft's changes. The fork's own index.js makes the same ABI check on its binary;
 * this one also catches an index.js from another checkout.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoftError } from '../../shared/errors.js';

/** The fork's interface version (native/fuse-native/fuse-native.c `loft_abi`). */
export const FUSE_NATIVE_ABI = 2;

/** What the fork's binary exports beyond upstream (native/fuse-native/README.md). */
export interface FuseNativeBinding {
  loft_abi: number;
  /** 1: open/create read bit 30 (direct_io) and bit 29 (keep_cache) of the handle. */
  loft_open_flags: number;
  /** Drops a kernel cache entry (name) or a node's attributes (name null): 0 or -errno. */
  loft_notify_inval(thread: Buffer, ino: number, name: string | null): Promise<number>;
}

export interface FuseNativeOptions {
  timeout?: number | false | Record<string, number | false>;
  force?: boolean;
  mkdir?: boolean;
  debug?: boolean;
  autoCache?: boolean;
  kernelCache?: boolean;
  attrTimeout?: number;
  entryTimeout?: number;
  fsname?: string;
  subtype?: string;
  maxRead?: number;
  defaultPermissions?: boolean;
  allowOther?: boolean;
}

export type FuseNativeOps = Record<string, ((...args: any[]) => void) | undefined>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface FuseNativeInstance {
  mnt: string;
  opts: FuseNativeOptions;
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
  _fuseOptions(): string;
}

export interface FuseNativeClass {
  new (mnt: string, ops: FuseNativeOps, opts?: FuseNativeOptions): FuseNativeInstance;
  unmount(mnt: string, cb: (err: Error | null) => void): void;
  binding: FuseNativeBinding;
  [errno: string]: unknown;
}

/** native/fuse-native/index.js, found from this file in src/ or dist/src/. */
function forkPath(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'fuse-native', 'index.js');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return null;
}

let loaded: FuseNativeClass | null = null;

/** The fork's Fuse class; throws a LoftError saying why it cannot be used. */
export function loadFuseNative(): FuseNativeClass {
  if (loaded) return loaded;
  const file = forkPath();
  if (!file) throw new LoftError('BAD_REQUEST', 'native/fuse-native is missing from this installation');
  let Fuse: FuseNativeClass;
  try {
    Fuse = createRequire(import.meta.url)(file) as FuseNativeClass;
  } catch (err) {
    throw new LoftError('BAD_REQUEST', (err as Error).message);
  }
  const abi = Fuse.binding?.loft_abi;
  if (abi !== FUSE_NATIVE_ABI) {
    throw new LoftError(
      'BAD_REQUEST',
      `fuse-native (Loft's fork) is ABI ${String(abi)}, this build needs ${FUSE_NATIVE_ABI}: run scripts/setup`,
    );
  }
  if (Fuse.binding.loft_open_flags !== 1 || typeof Fuse.binding.loft_notify_inval !== 'function') {
    throw new LoftError('BAD_REQUEST', "fuse-native (Loft's fork) lacks open flags or kernel invalidation");
  }
  return (loaded = Fuse);
}
