/**
 * The old generation's growth for the long-running processes that move file bytes (`loft serve`,
 * `loft mount`), set once at their start.
 *
 * Their JavaScript heaps are small (~13 MB for a drive, ~20 MB for a server: SQLite lives outside
 * it) while bytes flow through them fast (an HTTP body chunk, a FUSE write, a block read back, each
 * a new Buffer). With V8's defaults (node 20) both ran a full mark-compact every ~150 ms during a
 * 1 GiB upload (113 in the drive, up to 65 in the server, `--trace-gc`), each started with the old
 * generation well under its limit and freeing ~0.5 MB: ~25% of the drive's CPU and ~17% of the
 * server's (`perf`). Most likely V8 counts the external memory allocated since the last full GC
 * against the room it leaves above the heap, which for a heap this small is ~16 MB. Measured: a
 * growing factor of 3 (~30 MB of room) still ran 66-69 in the drive; a factor of 4 runs 2-7 per
 * GiB in each process (README "Where a new 1 GiB file's time goes", session 16). Incremental and
 * concurrent marking stay on (pauses ≤ 13 ms measured); the cost is a heap that may reach 4× its
 * live size before a full GC, tens of MB for these processes.
 *
 * `--heap-growing-percent` is read at each full GC, so setting it after start takes effect at the
 * next one. An explicit `--heap-growing-percent` in NODE_OPTIONS or on node's command line wins.
 */
import v8 from 'node:v8';

const GROWING_PERCENT = 300;

/** Sets the growing factor unless node was given one; returns the flag it set, if any. */
export function setHeapGrowth(
  execArgv: readonly string[] = process.execArgv,
  env: NodeJS.ProcessEnv = process.env,
  setFlags: (flags: string) => void = (f) => v8.setFlagsFromString(f),
): string | null {
  const given = [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) =>
    /^--heap[-_]growing[-_]percent(=|$)/.test(a),
  );
  if (given) return null;
  const flag = `--heap-growing-percent=${GROWING_PERCENT}`;
  setFlags(flag);
  return flag;
}
