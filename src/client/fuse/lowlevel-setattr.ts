/**
 * A FUSE setattr of the low-level binding, applied to the Vfs: the fields the kernel marks valid,
 * in libfuse's high-level order (chmod, chown, truncate, utimens), as fuse-native calls them.
 */
import type { OwnerCaller } from '../vfs/owners.js';
import type { Vfs } from '../vfs/vfs.js';
import {
  SET_ATIME,
  SET_ATIME_NOW,
  SET_GID,
  SET_MODE,
  SET_MTIME,
  SET_MTIME_NOW,
  SET_SIZE,
  SET_UID,
} from './lowlevel-binding.js';

/**
 * `v` as the binding passes it: mode, uid, gid, size, atime (ms), mtime (ms), and the open handle
 * of an ftruncate (or -1). `caller` makes the chown (the Vfs checks only the mounting user's).
 */
export async function applySetattr(
  vfs: Pick<Vfs, 'chmod' | 'chown' | 'ftruncate' | 'truncate' | 'utimens'>,
  p: string,
  valid: number,
  v: Float64Array,
  now: () => number,
  caller?: OwnerCaller,
): Promise<void> {
  if (valid & SET_MODE) await vfs.chmod(p, v[0]!);
  if (valid & (SET_UID | SET_GID))
    await vfs.chown(p, valid & SET_UID ? v[1]! : -1, valid & SET_GID ? v[2]! : -1, caller);
  if (valid & SET_SIZE) {
    if (v[6]! >= 0) await vfs.ftruncate(v[6]!, v[3]!);
    else await vfs.truncate(p, v[3]!);
  }
  if (valid & (SET_ATIME | SET_MTIME)) {
    const at = now();
    // Whole milliseconds, as the Vfs keeps them (the kernel's come with nanoseconds).
    const atime = valid & SET_ATIME ? (valid & SET_ATIME_NOW ? at : Math.floor(v[4]!)) : null;
    const mtime = valid & SET_MTIME ? (valid & SET_MTIME_NOW ? at : Math.floor(v[5]!)) : null;
    await vfs.utimens(p, atime, mtime);
  }
}
