/**
 * Which FUSE binding a drive mounts through, and why (`loft mount --fuse`, env LOFT_FUSE_BACKEND).
 *
 * - `lowlevel`: Loft's own libfuse 3 binding (native/, lowlevel-mount.ts). The default wherever it
 *   is built and loads.
 * - `fuse-native`: libfuse 2 through fuse-native (fuse-mount.ts), for machines without libfuse 3.
 *
 * Asked for by name, a backend that does not load is an error (one line saying why), never a quiet
 * switch to the other. With no choice (`auto`), the libfuse 3 binding is tried first and the reason
 * it could not be used is kept in `why`, which the mount's startup log and `loft status` show.
 */
import { LoftError } from '../../shared/errors.js';
import { FUSE_BACKENDS, type DriveMount, type FuseBackend, type FuseMountOptions } from './fuse-common.js';

export type FuseChoice = FuseBackend | 'auto';

/** The environment variable tests (and users) set to choose the backend without a flag. */
export const FUSE_BACKEND_ENV = 'LOFT_FUSE_BACKEND';

/** Parses `--fuse` / LOFT_FUSE_BACKEND (flag first); throws a LoftError for an unknown name. */
export function fuseChoice(flag: string | undefined, env = process.env[FUSE_BACKEND_ENV]): FuseChoice {
  const v = flag ?? (env || undefined) ?? 'auto';
  if (v === 'auto' || (FUSE_BACKENDS as readonly string[]).includes(v)) return v as FuseChoice;
  throw new LoftError('BAD_REQUEST', `unknown FUSE backend "${v}": use ${FUSE_BACKENDS.join(', ')} or auto`);
}

export interface ChosenMount {
  mount: DriveMount;
  /** Why this backend: "asked for", or why the default could not be used. */
  why: string;
}

async function lowlevel(options: FuseMountOptions): Promise<DriveMount> {
  const { LowlevelMount } = await import('./lowlevel-mount.js');
  return new LowlevelMount(options);
}

async function fuseNative(options: FuseMountOptions): Promise<DriveMount> {
  let mod: typeof import('./fuse-mount.js');
  try {
    mod = await import('./fuse-mount.js');
  } catch (err) {
    throw new LoftError('BAD_REQUEST', `fuse-native (libfuse 2) does not load: ${(err as Error).message}`);
  }
  return new mod.FuseMount(options);
}

/**
 * Loads the binding a choice names, before anything else starts: `loft mount --fuse X` with an X
 * that cannot load fails at once with one line. `auto` checks nothing (it falls back, saying why).
 */
export async function checkFuseChoice(choice: FuseChoice): Promise<void> {
  if (choice === 'lowlevel') (await import('./lowlevel-binding.js')).loadLowlevelBinding();
  else if (choice === 'fuse-native') {
    try {
      await import('./fuse-mount.js');
    } catch (err) {
      throw new LoftError('BAD_REQUEST', `fuse-native (libfuse 2) does not load: ${(err as Error).message}`);
    }
  }
}

/** Makes the mount for a choice (not mounted yet). */
export async function createDriveMount(choice: FuseChoice, options: FuseMountOptions): Promise<ChosenMount> {
  if (choice === 'lowlevel') return { mount: await lowlevel(options), why: 'asked for' };
  if (choice === 'fuse-native') return { mount: await fuseNative(options), why: 'asked for' };
  try {
    return { mount: await lowlevel(options), why: 'default' };
  } catch (err) {
    const reason = (err as Error).message;
    return { mount: await fuseNative(options), why: `default libfuse 3 binding unavailable: ${reason}` };
  }
}
