// The drive benchmark: `loft mount` against `rclone mount --vfs-cache-mode full` and against the
// ceiling of a FUSE filesystem on fuse-native (scripts/bench/passthrough-fs.mjs), on the same data.
// Usage: node scripts/bench/drive.mjs [--runs 3] [--size 1G] [--files 10000] [--only loft,rclone,ceiling]
//                                    [--parts a,b,c] (the mounts below to run: `--parts a` times only
//                                    the first 4 KiB, a minute a run instead of several)
//                                    [--settle MS] (mount A waits MS after the mount is up before its
//                                    read, for every system: the read of a cold file on a drive that is
//                                    done starting; default 0, the read right after the mount)
//
// Data (made once per invocation, served to every system): SIZE random (incompressible) bytes in
// big.bin and FILES files of 1 KiB in small/, in a local source directory.
//   Loft:    `loft serve` on 127.0.0.1; the data is uploaded through the HTTP API (1 MiB fixed-size
//            blocks, PUT /v1/blocks + POST /v1/commit); then `loft mount --state <fresh> --cache-size 2G`.
//   rclone:  `rclone serve webdav --read-only` of the source directory on 127.0.0.1; then
//            `rclone mount :webdav,url=…: --vfs-cache-mode full --cache-dir <fresh>` (flags below).
//   ceiling: passthrough-fs.ts with the FUSE options a fuse-native `loft mount` uses (lib/ceiling.ts
//            imports them from the drive), reading the source file.
// Both servers stay up for the whole benchmark (their data is in the page cache, as it would be on
// a warm server); the client side is cold for every cold measurement: a fresh mount and an empty
// cache/state directory. Each run, for each system:
//   mount A: open + read 4 KiB at offset 900 MiB of big.bin (ms), bytes the client fetched for it;
//   mount B: `ls -l small/ > /dev/null` twice: first (fresh mount) and repeat (ms);
//   mount C: sequential read of big.bin with 1 MiB reads (cold, MB/s), then again (warm, MB/s), then
//            (as root) again after `echo 1 > /proc/sys/vm/drop_caches` (recached, MB/s: the drive's
//            disk cache without the kernel's page cache; the cache files' pages are dropped too);
//   ceiling only, mount D: the `ls -l` pair without xattr handlers (what rclone, which has none, gets).
// Reads are checked: the 4 KiB and 8 random 1 MiB ranges are compared with the source after timing.
// MB = 10^6 bytes. The table has the median of the runs and every run's value; progress -> stderr.
// Every mount is unmounted (SIGTERM to its process, then fusermount -u, then -uz) and every child
// killed on exit, error or Ctrl-C; /proc/mounts is checked at the end.
//
// A system that cannot start reads "n/a (… failed: <its first stderr line>)"; rclone, where it is not
// installed, "n/a (rclone not installed)".
// Environment (for developing the benchmark itself):
//   LOFT_BENCH_FUSE_OPTS    FUSE -o options of the ceiling instead of the drive's (lib/ceiling.ts)
//   LOFT_BENCH_RCLONE_FLAGS extra `rclone mount` flags appended to RCLONE_MOUNT_FLAGS (space-separated)
//   LOFT_BENCH_BIN          a script used instead of bin/loft.js (test/helpers/server-process.ts)
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { readAt } from '../../test/helpers/fixtures.js';
import { startCeilingFs, type CeilingFs } from './lib/ceiling.js';
import { KiB, MiB, parseFlags, parseSize, UsageError } from './lib/cli.js';
import { apiCall } from './lib/http.js';
import { loftStatus, mountLoft, startLoftServer, type LoftMount, type LoftServer } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { unmount } from './lib/mounts.js';
import { execFileP, firstLine, messageOf, timed as timedCommand, withTimeout } from './lib/proc.js';
import {
  mountRclone,
  rcloneInstalled,
  rcloneVersion,
  startRcloneServer,
  type RcloneMount,
  type RcloneServer,
} from './lib/rclone.js';
import { machineLoad, median } from './lib/report.js';

const READ_BUF = MiB; // the reader's buffer: one fs.read of 1 MiB at a time, like `dd bs=1M`
const FIRST_READ = 4 * KiB;
const FIRST_READ_OFFSET = 900 * MiB; // clamped to the file for small --size
const SMALL_FILE_SIZE = KiB;
const UPLOAD_BLOCK = MiB; // fixed-size blocks for the bench upload (the drive itself uses FastCDC)
const UPLOAD_PARALLEL = 8; // requests in flight while uploading (one keep-alive connection each)
const CACHE_SIZE = '2G'; // Loft --cache-size and rclone --vfs-cache-max-size: the same cap
const VERIFY_RANGES = 8; // random 1 MiB ranges compared with the source after the timed reads
const SETTLE_MS = 1000; // wait before the second "bytes fetched" sample (background readahead)
const OP_TIMEOUT_MS = 600_000; // one measured operation; past it the mount is torn down (hung FUSE)
// rclone mount flags a fair user would set for this workload (why, one by one):
//   --vfs-cache-mode full       the mode that, like Loft, fetches only the ranges read into a disk
//                               cache (sparse files) and serves re-reads from it
//   --cache-dir <fresh>         empty cache per mount (set per mount, lib/rclone.ts)
//   --vfs-cache-max-size 2G     the same cap as Loft's --cache-size 2G
//   --buffer-size 64M, --vfs-read-ahead 256M
//                               rclone's documented advice for sequential reads in full mode (memory
//                               buffer plus on-disk read-ahead). Measured here, 5 runs each: cold
//                               337 vs 248 MB/s and warm 610 vs 409 MB/s against the defaults (16M, 0)
//   --dir-cache-time 1h         the listing stays valid for the whole benchmark, as Loft's mirror
//                               does (the default 5m would do too; this removes the doubt)
//   --config /dev/null          no config file needed (the remote is a connection string)
// Left at their defaults on purpose: --attr-timeout 1s (= Loft's), --async-read true,
// --max-read-ahead 128Ki (1M was no better in a quick trial: rclone receives 128 KiB read requests
// either way), --vfs-read-chunk-size 128M (ranged GETs of 128 MiB; 32M was no better in a quick trial).
// lib/rclone.ts adds its remote control on loopback (--rc), idle during the reads.
const RCLONE_MOUNT_FLAGS = [
  '--vfs-cache-mode',
  'full',
  '--vfs-cache-max-size',
  CACHE_SIZE,
  '--buffer-size',
  '64M',
  '--vfs-read-ahead',
  '256M',
  '--dir-cache-time',
  '1h',
  ...(process.env.LOFT_BENCH_RCLONE_FLAGS ?? '').split(/\s+/).filter(Boolean),
];
const SYSTEMS = ['loft', 'rclone', 'ceiling'] as const;
type System = (typeof SYSTEMS)[number];
/** The measured mounts of a run (see the top of this file); D goes with C. */
const PARTS = ['a', 'b', 'c'] as const;
type Part = (typeof PARTS)[number];
const USAGE =
  'usage: node scripts/bench/drive.mjs [--runs N] [--size SIZE] [--files N] [--only loft,rclone,ceiling] [--parts a,b,c] [--settle MS]';

interface Options {
  runs: number;
  size: number;
  files: number;
  only: System[];
  parts: Part[];
  settleMs: number;
}

function parseArgs(argv: string[]): Options {
  const o = parseFlags(
    argv,
    {
      runs: 3,
      size: '1G',
      files: 10_000,
      only: [...SYSTEMS] as string[],
      parts: [...PARTS] as string[],
      settle: '0',
    },
    USAGE,
    { only: SYSTEMS, parts: PARTS },
  );
  const size = parseSize(o.size);
  if (!(size >= 64 * KiB)) throw new UsageError(`${USAGE} (bad size "${o.size}": at least 64K)`);
  const settleMs = Number(o.settle);
  if (!/^\d+$/.test(o.settle)) throw new UsageError(`${USAGE} (bad settle "${o.settle}": milliseconds)`);
  return { runs: o.runs, size, files: o.files, only: o.only as System[], parts: o.parts as Part[], settleMs };
}

function fmtBytes(n: number): string {
  for (const [unit, size] of [
    ['GiB', 1024 * MiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ] as const)
    if (n >= size) return `${n % size === 0 ? n / size : (n / size).toFixed(1)} ${unit}`;
  return `${n} B`;
}

// ---- measurements ------------------------------------------------------------------------------------

/** Whether this process may drop the kernel's page cache (root). */
function canDropCaches(): boolean {
  try {
    fs.accessSync('/proc/sys/vm/drop_caches', fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Sequential read of the whole file with 1 MiB reads on one fd; MB/s (open included). */
async function seqRead(file: string, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(READ_BUF);
  const t0 = performance.now();
  const fh = await fsp.open(file, 'r');
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_BUF, total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
  } finally {
    await fh.close();
  }
  const sec = (performance.now() - t0) / 1000;
  if (total !== size) throw new Error(`read ${total} bytes of ${file}, expected ${size}`);
  return size / 1e6 / sec;
}

/** Sequential read with O_DIRECT (dd iflag=direct bs=1M): the disk, not the page cache; MB/s. */
async function directRead(file: string, size: number): Promise<number> {
  const t0 = performance.now();
  await execFileP('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct']);
  return size / 1e6 / ((performance.now() - t0) / 1000);
}

/** open + one 4 KiB read at `offset`: ms until the bytes are here. */
async function firstRead(file: string, offset: number): Promise<{ ms: number; bytes: Buffer }> {
  const buf = Buffer.alloc(FIRST_READ);
  const t0 = performance.now();
  const fh = await fsp.open(file, 'r');
  let n: number;
  let ms: number;
  try {
    ({ bytesRead: n } = await fh.read(buf, 0, FIRST_READ, offset));
    ms = performance.now() - t0; // close is not part of "time to first bytes"
  } finally {
    await fh.close();
  }
  if (n !== FIRST_READ) throw new Error(`read ${n} bytes at ${offset}, expected ${FIRST_READ}`);
  return { ms, bytes: buf };
}

/** `ls -l DIR > /dev/null`: ms from spawn to exit. */
async function timeLs(dir: string): Promise<number> {
  const t = await timedCommand('ls', ['-l', dir], { timeoutMs: OP_TIMEOUT_MS });
  return t.end - t.start;
}

/** Compares VERIFY_RANGES random 1 MiB ranges and the file's tail with the source. */
async function verifySample(file: string, source: string, size: number): Promise<void> {
  const offsets = [Math.max(0, size - MiB)];
  for (let i = 0; i < VERIFY_RANGES; i++)
    offsets.push(Math.floor((Math.random() * Math.max(1, size - MiB)) / 4096) * 4096);
  for (const off of offsets) {
    const [a, b] = await Promise.all([readAt(file, off, MiB), readAt(source, off, MiB)]);
    if (!a.equals(b)) throw new Error(`wrong data in ${file} at offset ${off}`);
  }
}

/** Bytes allocated on disk under dir (sparse files count only what was written). */
function allocatedBytes(dir: string, name?: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (!name || e.name === name)) total += fs.statSync(p).blocks * 512;
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return total;
}

// ---- data ---------------------------------------------------------------------------------------------

const MTIME_MS = Math.floor(Date.now() / 1000) * 1000; // whole seconds: every system shows the same

interface Data {
  big: string;
  small: string;
  blocks: { hash: string; size: number }[];
  smallNames: string[];
}

/** big.bin (random bytes) and small/f00000…; returns the 1 MiB block hashes of big.bin. */
async function makeData(src: string, opts: Options): Promise<Data> {
  const big = path.join(src, 'big.bin');
  const blocks: Data['blocks'] = [];
  const fh = await fsp.open(big, 'w');
  try {
    for (let off = 0; off < opts.size; off += UPLOAD_BLOCK) {
      const data = randomBytes(Math.min(UPLOAD_BLOCK, opts.size - off));
      await fh.write(data, 0, data.length, off);
      blocks.push({ hash: createHash('sha256').update(data).digest('hex'), size: data.length });
    }
  } finally {
    await fh.close();
  }
  const mtime = new Date(MTIME_MS);
  fs.utimesSync(big, mtime, mtime);
  const small = path.join(src, 'small');
  fs.mkdirSync(small);
  const width = String(opts.files - 1).length;
  for (let i = 0; i < opts.files; i++) {
    const p = path.join(small, `f${String(i).padStart(width, '0')}.txt`);
    fs.writeFileSync(p, randomBytes(SMALL_FILE_SIZE));
    fs.utimesSync(p, mtime, mtime);
  }
  fs.utimesSync(small, mtime, mtime);
  return { big, small, blocks, smallNames: fs.readdirSync(small).sort() };
}

async function pool<T>(
  n: number,
  items: readonly T[],
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i; (i = next++) < items.length;) await fn(items[i]!, i);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

// ---- Loft ---------------------------------------------------------------------------------------------

/** `loft serve` with big.bin and small/ uploaded through the HTTP API. */
async function setupLoft(
  work: string,
  data: Data,
  opts: Options,
  log: (m: string) => void,
): Promise<LoftServer> {
  const srv = await startLoftServer(path.join(work, 'loft'));
  const agent = new Agent({
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    connections: UPLOAD_PARALLEL,
  });
  const base = srv.url.replace(/\/$/, '');
  const call = (method: 'PUT' | 'POST', urlPath: string, o: { json?: unknown; bytes?: Buffer }) =>
    apiCall(base, srv.token, method, urlPath, { ...o, agent });
  try {
    const t0 = performance.now();
    const fh = await fsp.open(data.big, 'r');
    try {
      await pool(UPLOAD_PARALLEL, data.blocks, async (b, i) => {
        const buf = Buffer.allocUnsafe(b.size);
        await fh.read(buf, 0, b.size, i * UPLOAD_BLOCK);
        await call('PUT', `/v1/blocks/${b.hash}`, { bytes: buf });
      });
    } finally {
      await fh.close();
    }
    await call('POST', '/v1/commit', {
      json: {
        path: '/big.bin',
        parentRev: null,
        blocks: data.blocks,
        size: opts.size,
        mtime: MTIME_MS,
        mode: 0o644,
      },
    });
    const t1 = performance.now();
    await call('POST', '/v1/mkdir', { json: { path: '/small', mtime: MTIME_MS, mode: 0o755 } });
    await pool(UPLOAD_PARALLEL, data.smallNames, async (name) => {
      const bytes = fs.readFileSync(path.join(data.small, name));
      const hash = createHash('sha256').update(bytes).digest('hex');
      await call('PUT', `/v1/blocks/${hash}`, { bytes });
      const body = {
        path: `/small/${name}`,
        parentRev: null,
        blocks: [{ hash, size: bytes.length }],
        size: bytes.length,
        mtime: MTIME_MS,
        mode: 0o644,
      };
      await call('POST', '/v1/commit', { json: body });
    });
    const t2 = performance.now();
    log(
      `loft: uploaded big.bin in ${((t1 - t0) / 1000).toFixed(1)} s (${(opts.size / 1e6 / ((t1 - t0) / 1000)).toFixed(0)} MB/s), ` +
        `${opts.files} small files in ${((t2 - t1) / 1000).toFixed(1)} s`,
    );
  } finally {
    await agent.destroy().catch(() => {});
  }
  return srv;
}

// ---- one run of one system --------------------------------------------------------------------------------

type AnyMount = LoftMount | RcloneMount | CeilingFs;
type Server = { loft: LoftServer; rclone: RcloneServer; ceiling: Record<string, never> };
type Ctx = { [S in System]?: Server[S] | { error: string } };
const failedSetup = (c: unknown): c is { error: string } => !!c && typeof c === 'object' && 'error' in c;

interface Env {
  work: string;
  src: string;
  data: Data;
  firstOffset: number;
  opts: Options;
}
type Result = Partial<
  Record<
    'first4k' | 'lsFirst' | 'lsRepeat' | 'cold' | 'warm' | 'recached' | 'lsFirstNoXattr' | 'lsRepeatNoXattr',
    number
  >
>;
type CeilingStats = { ops?: Record<string, number>; readLens?: Record<string, number> } | null;

const notes = {
  fetched4k: { loft: [] as number[], rclone: [] as number[] },
  fetched4kSettled: { loft: [] as number[], rclone: [] as number[] },
  coldFetched: { loft: [] as number[], rclone: [] as number[] },
  readLens: {} as Record<string, number>,
  lsOps: [] as (Record<string, number> | undefined)[],
  lsOpsNoXattr: [] as (Record<string, number> | undefined)[],
};

/** The op counters passthrough-fs prints when it stops. */
function ceilingStats(m: AnyMount): CeilingStats {
  if (m.sys !== 'ceiling') return null;
  const line = /^passthrough stats (.*)$/m.exec(m.child.stderr);
  return line ? (JSON.parse(line[1]!) as CeilingStats) : null;
}

/** Tears a mount down at once: for a hung filesystem (pending reads then fail with ENOTCONN). */
async function abortMount(m: AnyMount): Promise<void> {
  const pid = m.sys === 'loft' ? m.process.pid : m.child.proc.pid;
  if (pid) process.kill(pid, 'SIGKILL');
  await unmount(m.mnt);
}

class MountFailed extends Error {}

async function measureSystem(sys: System, server: Server[System], env: Env, run: number): Promise<Result> {
  const { work, data, opts } = env;
  const r: Result = {};
  const mount = async (label: string, xattr: boolean): Promise<AnyMount> => {
    try {
      if (sys === 'loft')
        return await mountLoft(server as LoftServer, path.join(work, 'mnt'), `loft-${label}`, CACHE_SIZE);
      if (sys === 'rclone')
        return await mountRclone(server as RcloneServer, path.join(work, 'mnt'), label, RCLONE_MOUNT_FLAGS);
      return await startCeilingFs(env.src, path.join(work, 'mnt', `ceiling-${label}`), {
        env: { PASSTHROUGH_READ_STATS: '1', PASSTHROUGH_XATTR: xattr ? '1' : '0' },
      });
    } catch (err) {
      throw new MountFailed(messageOf(err));
    }
  };
  // A mount whose process stops answering must not hang the benchmark: tear it down (pending
  // reads fail with ENOTCONN) and fail this run.
  const timed = <T>(m: AnyMount, what: string, promise: Promise<T>) =>
    withTimeout(OP_TIMEOUT_MS, `${sys}: ${what}`, promise, () => abortMount(m));
  const fetched = async (m: AnyMount): Promise<number> =>
    m.sys === 'loft'
      ? (await loftStatus(m)).downloadedBytes
      : m.sys === 'rclone'
        ? allocatedBytes(path.join(m.state, 'vfs'), 'big.bin')
        : NaN;
  const withMount = async (label: string, fn: (m: AnyMount) => Promise<void>, xattr = true) => {
    const m = await mount(`r${run}${label}`, xattr);
    try {
      await fn(m);
    } finally {
      await m.stop();
      if (m.sys !== 'ceiling') fs.rmSync(m.state, { recursive: true, force: true });
    }
    return m;
  };

  const part = (p: Part) => opts.parts.includes(p);
  // A: first 4 KiB far into a cold file.
  if (part('a'))
    await withMount('a', async (m) => {
      const file = path.join(m.mnt, 'big.bin');
      if (opts.settleMs) await sleep(opts.settleMs);
      const { ms, bytes } = await timed(m, 'first 4 KiB', firstRead(file, env.firstOffset));
      r.first4k = ms;
      if (sys !== 'ceiling') notes.fetched4k[sys].push(await fetched(m));
      if (!bytes.equals(await readAt(data.big, env.firstOffset, FIRST_READ)))
        throw new Error(`${sys}: wrong data in the 4 KiB at ${env.firstOffset}`);
      if (sys !== 'ceiling') {
        await sleep(SETTLE_MS);
        notes.fetched4kSettled[sys].push(await fetched(m));
      }
    });

  // B: ls -l of the small-file directory, fresh mount, then again.
  if (part('b')) {
    const mB = await withMount('b', async (m) => {
      const dir = path.join(m.mnt, 'small');
      r.lsFirst = await timed(m, 'ls -l (first)', timeLs(dir));
      r.lsRepeat = await timed(m, 'ls -l (repeat)', timeLs(dir));
      const names = (await fsp.readdir(dir)).sort();
      if (names.length !== data.smallNames.length || names.some((n, i) => n !== data.smallNames[i]))
        throw new Error(`${sys}: small/ lists ${names.length} names, expected ${data.smallNames.length}`);
    });
    if (sys === 'ceiling') notes.lsOps.push(ceilingStats(mB)?.ops);
  }

  if (!part('c')) return r;
  // C: cold then warm sequential read.
  const mC = await withMount('c', async (m) => {
    const file = path.join(m.mnt, 'big.bin');
    r.cold = await timed(m, 'cold read', seqRead(file, opts.size));
    if (sys !== 'ceiling') notes.coldFetched[sys].push(await fetched(m));
    r.warm = await timed(m, 'warm read', seqRead(file, opts.size));
    if (canDropCaches()) {
      fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
      r.recached = await timed(m, 'recached read', seqRead(file, opts.size));
    }
    await timed(m, 'verify', verifySample(file, data.big, opts.size));
  });
  if (sys === 'ceiling') {
    for (const [len, n] of Object.entries(ceilingStats(mC)?.readLens ?? {}))
      notes.readLens[len] = (notes.readLens[len] ?? 0) + n;
    // D: the ls pair again with no xattr handlers (ENOSYS: the kernel stops asking).
    const mD = await withMount(
      'd',
      async (m) => {
        const dir = path.join(m.mnt, 'small');
        r.lsFirstNoXattr = await timed(m, 'ls -l (first, no xattr)', timeLs(dir));
        r.lsRepeatNoXattr = await timed(m, 'ls -l (repeat, no xattr)', timeLs(dir));
      },
      false,
    );
    notes.lsOpsNoXattr.push(ceilingStats(mD)?.ops);
  }
  return r;
}

// ---- main ---------------------------------------------------------------------------------------------------

type RowKey = keyof Result | 'localRead' | 'directRead';

runBench('drive', async ({ work, log }) => {
  const opts = parseArgs(process.argv.slice(2));
  const want = (sys: System) => opts.only.includes(sys);
  const ROWS: [RowKey, string, string, number][] = [
    [
      'cold',
      `cold sequential read, ${fmtBytes(opts.size)}, 1 MiB reads (fresh mount, empty cache)`,
      'MB/s',
      0,
    ],
    ['warm', 'warm re-read, same mount', 'MB/s', 0],
    ['recached', 're-read after `echo 1 > /proc/sys/vm/drop_caches` (disk cache, no page cache)', 'MB/s', 0],
    ['first4k', '', 'ms', 2], // label set once the offset is known
    ['lsFirst', `\`ls -l\` of ${opts.files.toLocaleString('en-US')} files, first (fresh mount)`, 'ms', 1],
    ['lsRepeat', `\`ls -l\` of ${opts.files.toLocaleString('en-US')} files, repeat`, 'ms', 1],
    ['lsFirstNoXattr', '`ls -l` first, ceiling without getxattr/listxattr handlers', 'ms', 1],
    ['lsRepeatNoXattr', '`ls -l` repeat, ceiling without getxattr/listxattr handlers', 'ms', 1],
    ['localRead', 'machine limit: local read of the source file (page cache), 1 MiB reads', 'MB/s', 0],
    ['directRead', 'machine limit: local disk read of the source file, O_DIRECT (dd bs=1M)', 'MB/s', 0],
  ];

  fs.mkdirSync(path.join(work, 'mnt'));
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  log(`work dir ${work}; making ${fmtBytes(opts.size)} of random data and ${opts.files} small files…`);
  const data = await makeData(src, opts);
  const firstOffset = Math.min(FIRST_READ_OFFSET, Math.floor((opts.size - FIRST_READ) / 4096) * 4096);
  const offsetLabel = firstOffset % MiB === 0 ? fmtBytes(firstOffset) : `${firstOffset / KiB} KiB`;
  ROWS.find((r) => r[0] === 'first4k')![1] =
    `first ${FIRST_READ / KiB} KiB at offset ${offsetLabel} of a cold file (open + read)` +
    (opts.settleMs ? `, ${opts.settleMs} ms after the mount is up` : '');
  const env: Env = { work, src, data, firstOffset, opts };

  const ctx: Ctx = {};
  const results: Record<System, Result[]> = { loft: [], rclone: [], ceiling: [] };
  const errors: Record<System, string[]> = { loft: [], rclone: [], ceiling: [] };
  let rcloneLine = 'rclone';
  if (want('rclone')) {
    if (!(await rcloneInstalled())) {
      ctx.rclone = { error: 'rclone not installed' };
      rcloneLine = 'not installed';
    } else
      try {
        rcloneLine = await rcloneVersion();
        const srv = await startRcloneServer(path.join(work, 'rclone'), {
          backend: src,
          extra: ['--read-only'],
        });
        ctx.rclone = srv;
        log(`rclone: ${rcloneLine}, serve webdav at ${srv.url}`);
      } catch (err) {
        ctx.rclone = { error: `rclone setup failed: ${messageOf(err)}` };
      }
  }
  if (want('loft')) {
    try {
      const srv = await setupLoft(work, data, opts, log);
      ctx.loft = srv;
      log(`loft: server at ${srv.url}`);
    } catch (err) {
      ctx.loft = { error: `loft setup failed: ${messageOf(err)}` };
    }
  }
  if (want('ceiling')) ctx.ceiling = {};
  const machine: { localRead: number; directRead: number }[] = [];

  for (let run = 1; run <= opts.runs; run++) {
    machine.push({
      localRead: await seqRead(data.big, opts.size),
      directRead: await directRead(data.big, opts.size).catch(() => NaN),
    });
    for (const sys of SYSTEMS) {
      const server = ctx[sys];
      if (!want(sys) || !server || failedSetup(server)) continue;
      log(`run ${run}/${opts.runs}: ${sys}…`);
      try {
        const r = await measureSystem(sys, server, env, run);
        results[sys].push(r);
        log(
          `run ${run}/${opts.runs}: ${sys}: cold ${r.cold?.toFixed(0) ?? '-'} MB/s, warm ${r.warm?.toFixed(0) ?? '-'} MB/s, ` +
            `recached ${r.recached?.toFixed(0) ?? 'n/a'} MB/s, ` +
            `4 KiB ${r.first4k?.toFixed(2) ?? '-'} ms, ls ${r.lsFirst?.toFixed(0) ?? '-'}/${r.lsRepeat?.toFixed(0) ?? '-'} ms`,
        );
      } catch (err) {
        log(`run ${run}/${opts.runs}: ${sys} failed: ${messageOf(err)}`);
        if (err instanceof MountFailed)
          ctx[sys] = { error: `${sys} mount failed: ${firstLine(err.message)}` };
        else errors[sys].push(`run ${run}: ${messageOf(err)}`);
      }
    }
  }

  // ---- report ----
  const fmt = (v: number, d: number) =>
    Number.isFinite(v)
      ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
      : 'n/a';
  const errorOf = (sys: System): string | null => {
    const c = ctx[sys];
    return failedSetup(c) ? c.error : null;
  };
  const valuesOf = (sys: System | 'machine', key: RowKey): number[] =>
    sys === 'machine'
      ? machine
          .map((m) => (key === 'localRead' || key === 'directRead' ? m[key] : NaN))
          .filter(Number.isFinite)
      : results[sys]
          .map((r) => (key === 'localRead' || key === 'directRead' ? NaN : (r[key] ?? NaN)))
          .filter(Number.isFinite);
  const cell = (sys: System, key: RowKey, d: number) => {
    if (!want(sys)) return '—';
    const error = errorOf(sys);
    if (error) return `n/a (${error})`;
    const vals = valuesOf(sys, key);
    return vals.length ? fmt(median(vals), d) : 'n/a';
  };
  const cpus = os.cpus();
  console.log(
    `Loft drive benchmark: ${opts.runs} run(s); ${fmtBytes(opts.size)} random file, ` +
      `${opts.files.toLocaleString('en-US')} × ${SMALL_FILE_SIZE} B files; median across runs (MB = 10^6 bytes)\n`,
  );
  console.log(
    '| metric | unit | Loft | rclone | ceiling | Loft/rclone | all runs: Loft · rclone · ceiling |',
  );
  console.log('|---|---|---:|---:|---:|---:|---|');
  const live = (s: System) => want(s) && !errorOf(s);
  for (const [key, label, unit, d] of ROWS) {
    const ceilingOnly = key.endsWith('NoXattr');
    const machineRow = key === 'localRead' || key === 'directRead';
    const sysCells = machineRow || ceilingOnly ? ['—', '—'] : [cell('loft', key, d), cell('rclone', key, d)];
    const third = machineRow ? fmt(median(valuesOf('machine', key)), d) : cell('ceiling', key, d);
    let ratio = '—';
    if (!machineRow && !ceilingOnly) {
      const l = live('loft') ? valuesOf('loft', key) : [];
      const rc = live('rclone') ? valuesOf('rclone', key) : [];
      ratio = l.length && rc.length ? `${fmt(median(l) / median(rc), 2)}×` : 'n/a';
    }
    const runs = machineRow
      ? `machine: ${valuesOf('machine', key)
          .map((v) => fmt(v, d))
          .join(', ')}`
      : (ceilingOnly ? (['ceiling'] as const) : SYSTEMS)
          .filter(live)
          .map(
            (s) =>
              `${s}: ${
                valuesOf(s, key)
                  .map((v) => fmt(v, d))
                  .join(', ') || 'n/a'
              }`,
          )
          .join(' · ') || '—';
    console.log(`| ${label} | ${unit} | ${sysCells[0]} | ${sysCells[1]} | ${third} | ${ratio} | ${runs} |`);
  }
  console.log('\nLoft/rclone: above 1 means Loft is faster for MB/s rows, slower for ms rows.');

  const med = (xs: number[]) => (xs.length ? fmtBytes(median(xs)) : 'n/a');
  const lines: string[] = [];
  for (const sys of ['loft', 'rclone'] as const) {
    if (!live(sys)) continue;
    const what =
      sys === 'loft' ? '`loft status` downloadedBytes' : 'bytes allocated in its sparse cache file';
    lines.push(
      `bytes fetched for the ${FIRST_READ / KiB} KiB read, ${sys} (${what}): ${med(notes.fetched4k[sys])} right after it, ` +
        `${med(notes.fetched4kSettled[sys])} ${SETTLE_MS / 1000} s later; after the cold full read: ${med(notes.coldFetched[sys])}`,
    );
  }
  if (want('ceiling') && Object.keys(notes.readLens).length) {
    const hist = Object.entries(notes.readLens)
      .sort((a, b) => b[1] - a[1])
      .map(([len, n]) => `${fmtBytes(Number(len))} × ${n}`)
      .join(', ');
    const requested = Object.entries(notes.readLens).reduce((t, [len, n]) => t + Number(len) * n, 0);
    lines.push(
      `kernel read requests reaching the ceiling's FUSE process (cold read + warm re-read, all runs): ${hist}; ` +
        `${fmtBytes(requested)} requested of the ${fmtBytes(2 * opts.size * results.ceiling.length)} the benchmark read ` +
        `(the rest came from the kernel page cache)`,
    );
    const ops = (o: Record<string, number> | undefined) =>
      o
        ? Object.entries(o)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')
        : 'n/a';
    lines.push(
      `ceiling FUSE ops for the two \`ls -l\` (run 1): ${ops(notes.lsOps[0])}; without xattr handlers: ${ops(notes.lsOpsNoXattr[0])}`,
    );
  }
  for (const sys of SYSTEMS)
    if (errors[sys].length)
      lines.push(`${sys}: failed run(s), left out of the medians: ${errors[sys].join('; ')}`);
  lines.push(
    `Loft: \`loft mount --cache-size ${CACHE_SIZE}\` with a fresh --state per mount, on \`loft serve\` at 127.0.0.1 (data uploaded in 1 MiB blocks)`,
  );
  lines.push(
    `rclone: ${rcloneLine}: \`rclone mount :webdav,url=…: --cache-dir <fresh> ${RCLONE_MOUNT_FLAGS.join(' ')}\` on \`rclone serve webdav --read-only\` at 127.0.0.1`,
  );
  const ceilingOpts = (
    await import('./lib/ceiling.js').then((c) => c.ceilingFuseOptions()).catch(() => ['?'])
  ).join(',');
  lines.push(
    `ceiling: scripts/bench/passthrough-fs.ts (fuse-native, -o ${ceilingOpts}, the drive's own options; getxattr/listxattr answered like Loft must), reading the source file`,
  );
  lines.push(
    `machine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores, ${fmtBytes(os.totalmem())} RAM (${os.platform()} ${os.release()}); ${machineLoad()}`,
  );
  console.log(`\n${lines.map((l) => `- ${l}`).join('\n')}`);
});
