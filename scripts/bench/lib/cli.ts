/**
 * Flags of the benchmarks: `--name VALUE`, `--name=VALUE` and bare `--name` for booleans. The
 * defaults object says each flag's type: a number takes a positive integer, a string any text, a
 * boolean no value, an array a comma-separated list (checked against `choices` when given). A bad
 * flag throws the bench's usage line with what was wrong (the bench prints it and exits 2).
 */
import path from 'node:path';
export type FlagValue = number | string | boolean | string[];

export class UsageError extends Error {
  override name = 'UsageError';
}

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** "64K", "1G", "1.5MiB", "4096" → bytes; NaN when it is not a size. */
export function parseSize(s: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?(?:i?B)?$/i.exec(s ?? '');
  if (!m) return NaN;
  const unit = (m[2] ?? '').toUpperCase();
  const mult = { '': 1, K: KiB, M: MiB, G: GiB, T: 1024 * GiB }[unit] ?? NaN;
  return Math.round(Number(m[1]) * mult);
}

export function parseFlags<T extends Record<string, FlagValue>>(
  argv: readonly string[],
  defaults: T,
  usage: string,
  choices: { [K in keyof T]?: readonly string[] } = {},
): T {
  const opts: Record<string, FlagValue> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const key = flag.replace(/^--/, '');
    if (!flag.startsWith('--') || !(key in defaults)) throw new UsageError(`${usage} (bad "${arg}")`);
    const def = defaults[key];
    if (typeof def === 'boolean') {
      opts[key] = eq < 0 ? true : arg.slice(eq + 1) !== 'false';
      continue;
    }
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new UsageError(`${usage} (no value for "${arg}")`);
    if (typeof def === 'number') {
      if (!/^[1-9]\d*$/.test(value)) throw new UsageError(`${usage} (bad "${arg}": a positive integer)`);
      opts[key] = Number(value);
    } else if (Array.isArray(def)) {
      const list = value.split(',').filter(Boolean);
      const allowed = choices[key];
      const bad = list.find((v) => allowed && !allowed.includes(v));
      if (!list.length || bad !== undefined)
        throw new UsageError(
          `${usage} (unknown "${bad ?? ''}" in ${flag}${allowed ? `: one of ${allowed.join(',')}` : ''})`,
        );
      opts[key] = list;
    } else {
      const allowed = choices[key];
      if (allowed && !allowed.includes(value))
        throw new UsageError(`${usage} (bad "${arg}": one of ${allowed.join(', ')})`);
      opts[key] = value;
    }
  }
  return opts as T;
}

/**
 * The command line of a passthrough file system the benches mount as a ceiling:
 * `DIR MOUNTPOINT [--opts o1,o2,…]`, the options loft mount's on fuse-native unless --opts says
 * otherwise (src/client/fuse/fuse-mount.ts MOUNT_OPTIONS). Exits 2 with `usage` on anything else.
 */
export async function passthroughArgs(
  usage: string,
): Promise<{ dir: string; mnt: string; fuseOpts: string[] }> {
  const argv = process.argv.slice(2);
  const { MOUNT_OPTIONS } = await import('../../../src/client/fuse/fuse-mount.js');
  let fuseOpts = [...MOUNT_OPTIONS];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--opts') fuseOpts = (argv[++i] ?? '').split(',').filter(Boolean);
    else if (a.startsWith('--opts=')) fuseOpts = a.slice(7).split(',').filter(Boolean);
    else positional.push(a);
  }
  if (positional.length !== 2) {
    console.error(usage);
    process.exit(2);
  }
  const [dir, mnt] = positional.map((p) => path.resolve(p)) as [string, string];
  return { dir, mnt, fuseOpts };
}
