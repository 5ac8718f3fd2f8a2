/**
 * Data at rest is its owner's alone: the server's data dir and a drive's state dir (mirror, cache,
 * staging, token) are 0700, the files in them 0600. New files get that from the process umask
 * (`loft` sets 077 at start, see src/cli/main.ts); a directory made world-readable by an older Loft
 * is closed when it is opened again (which closes everything below it too).
 */
import { chmodSync, mkdirSync } from 'node:fs';

/** The umask every `loft` process runs with: nothing it writes is readable by group or others. */
export const PRIVATE_UMASK = 0o077;

/** Creates `dir` (and parents) if missing, and makes it 0700 whatever it was. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}
