/**
 * What both FUSE backends share: the interface the drive mounts through, the kernel timeouts and
 * per-request timeouts, errno numbers, and the mount check. The backends (fuse-mount.ts on
 * fuse-native / libfuse 2, lowlevel-mount.ts on Loft's own libfuse 3 binding in native/) are glue
 * from FUSE requests to Vfs calls; neither holds drive logic.
 */
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import type { Errno, FsError } from '../../shared/errors.js';
import type { Vfs } from '../vfs/vfs.js';
import { parseMounts } from '../state-dir.js';
import type { HydrationFirewall } from './hydration-firewall.js';
import type { KernelCache } from './kernel-cache.js';

/** The FUSE backends a drive can mount through (`loft mount --fuse`). */
export const FUSE_BACKENDS = ['lowlevel', 'fuse-native'] as const;
export type FuseBackend = (typeof FUSE_BACKENDS)[number];

/** How long the kernel keeps a name it looked up (s); see fuse-mount.ts for the measurements. */
export const ENTRY_TIMEOUT_S = 10;
/**
 * Per-request timeouts: reads may hydrate, so they get READ_TIMEOUT_MS, longer than the hydrator's
 * own retry budget (a slow download never answers a spurious error) yet bounded (a dead server never
 * hangs a reader forever); metadata ops never touch the network and get a short one.
 */
export const READ_TIMEOUT_MS = 60_000;
export const META_TIMEOUT_MS = 10_000;
/** How often a mounted drive checks that its mount is still there (fuse-native backend). */
export const MOUNT_CHECK_MS = 1_000;

/** Who made a request (the libfuse 3 backend knows; fuse-native does not). */
export interface Caller {
  pid: number;
  uid: number;
  gid: number;
}

export interface FuseMountOptions {
  mountpoint: string;
  vfs: Vfs;
  debug?: boolean;
  /** allow_other + default_permissions: other local users may use the mount, the kernel checks modes. */
  allowOther?: boolean;
  /** Called once per unexpected (non-FsError) failure, which is answered as EIO. */
  onError?: (op: string, path: string, err: unknown) => void;
  /** Called for every expected failure (an FsError): for debug logging. */
  onFsError?: (op: string, path: string, err: FsError, caller?: Caller) => void;
  /** Called once when the mount goes away without unmount() (`fusermount -u`, `umount -l`). */
  onGone?: () => void;
  /** Who may make reads download (needs the caller's pid: the libfuse 3 binding only). */
  firewall?: HydrationFirewall;
}

/** A mounted drive, whichever binding serves it. */
export interface DriveMount {
  readonly backend: FuseBackend;
  readonly mountpoint: string;
  /** The kernel's attribute timeout this mount uses (s). */
  readonly attrTimeoutS: number;
  /** Kernel cache invalidation (null when the binding cannot invalidate). */
  readonly kernelCache: KernelCache | null;
  mount(): Promise<void>;
  unmount(): Promise<void>;
  /** Drops the kernel's cached entry for a path changed behind its back (a remote change). */
  invalidate(path: string): void;
  /** What the binding negotiated or was built with, for `loft status` (numbers and flags). */
  info(): Record<string, number | boolean>;
}

/** The positive errno number of a name (the OS's table; EIO for a name it lacks). */
export function errnoNumber(name: Errno): number {
  return os.constants.errno[name] ?? os.constants.errno.EIO;
}

/** True when `mountpoint` is a FUSE mount point in this process's mount namespace. */
export async function isFuseMounted(mountpoint: string): Promise<boolean> {
  return (
    parseMounts(await readFile('/proc/self/mounts', 'utf8'))
      .get(mountpoint)
      ?.startsWith('fuse') ?? false
  );
}
