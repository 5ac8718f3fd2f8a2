/**
 * The old generation's growth for the long-running processes that move file bytes (`loft serve`,
 * `loft mount`), set once at their start.
 *
 * Their JavaScript heaps are small (~13 MB for a drive, ~20 MB for a server: SQLite lives outside
 * it) while bytes flow through them fast (an HTTP body chunk, a FUSE write, a block read back, each
 * a new object). With V8's defaults (node 20) the room it leaves above such a heap after a full GC
 * is about the size of the young generation, and V8 starts incremental marking whenever the room
 * left is no more than that; so during a 1 GiB upload both processes ran a full mark-compact every
 * ~150 ms (113 in the drive, 65 in the server, `--trace-gc`), freeing ~0.5 MB each time: ~25% of
 * the drive's CPU and ~17% of the server's (`perf`). A fixed growing factor of 3 leaves room to
 * spare: 2-6 full GCs per GiB, the same CPU work otherwise (README "Where a new 1 GiB file's time
 * goes"). Incremental and concurrent marking stay on (pauses measured ≤ 13 ms here); the cost is
 * a heap that may reach 3× its live size before a full GC, tens of MB for these processes.
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
