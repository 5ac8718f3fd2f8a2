// The write benchmark: `loft mount` against `rclone mount --vfs-cache-mode writes` and against the
// ceiling of a writable FUSE filesystem on fuse-native, on the same data, in the same run.
// Usage: node scripts/bench/write.mjs [--runs 3] [--size 1G] [--files 20] [--only loft,rclone,ceiling]
//          [--prepend 64M]
//
// Data (made once per invocation, in memory; big.bin also on local disk for the chunk row):
// SIZE random bytes (big), PREPEND (64 MiB) random bytes (p64), a 1 MiB random patch, FILES × 1 MiB random.
// Every run starts each system from nothing: a fresh server data dir / backend dir, fresh state.
//   Loft:    `loft serve --data <fresh>` on 127.0.0.1 and a user (lib/loft.ts), then
//            `loft mount --state <fresh> --cache-size 2G`.
//   rclone:  `rclone serve webdav <fresh backend dir>` on 127.0.0.1, then `rclone mount :webdav,…:
//            --cache-dir <fresh>` (lib/rclone.ts) with the flags in RCLONE_MOUNT_FLAGS (below, with
//            reasons). Optional: where rclone is not installed its column says so.
//   ceiling: scripts/bench/passthrough-rw-fs.ts: the smallest writable fuse-native filesystem
//            (passthrough to a local directory; writes are a pwrite on the JS thread), with the FUSE
//            options a fuse-native `loft mount` passes (lib/ceiling.ts imports them from the drive).
// Both servers are reached through a byte-counting TCP proxy in this process (client → server
// bytes are what "the remote received", HTTP headers included); Loft also reports uploadedBytes
// (exact block payload bytes) on its control socket, which the benchmark polls directly
// (GET /status on the unix socket named in STATE/mount.json, every POLL_MS) for commit latency.
// rclone's commit point: its remote control (`vfs/stats`) shows no upload queued or in progress
// and the backend directory holds the new bytes.
//
// Each run, per system:
//   mount 1 (fresh state):
//     1. sequential write of big.bin: open, 1 MiB writes, fsync, close (as `dd bs=1M conv=fsync`);
//        MB/s from open to close. Then the time until it is committed and the bytes uploaded.
//     3. p64.bin (PREPEND bytes) written and committed; then rewritten from scratch (O_TRUNC) as 1 byte + the old
//        content: bytes uploaded, time from close to committed.
//     4. FILES new 1 MiB files, one after another: time from close to committed, each.
//   mount 2 (fresh state: big.bin is cloud-only on this device):
//     2. 1 MiB rewritten in place at the middle of big.bin (open O_RDWR, one write, close): bytes
//        uploaded (and downloaded), time from close to committed.
//   Loft, mount 3 (fresh state): the server's content is checked (patch, neighbours, p64.bin, a
//   new file); rclone: the same checks on its backend directory.
//   ceiling: 1. only (it has no remote).
//   machine (once per run): local-disk write of the same bytes (+ fsync); chunk + hash of big.bin
//   with Loft's chunkFile (src/client/chunk/chunk-file.ts) and SHA-256 alone.
// MB = 10^6 bytes, MiB = 2^20. The table has the median of the runs; all runs follow it.
// Mounts and children are stopped on exit, error or Ctrl-C (lib/main.ts); /proc/mounts is checked.
// Environment (for developing the benchmark itself):
//   LOFT_BENCH_CEILING_WRITE=async  the ceiling writes with fs.write on the libuv pool (as Loft's
//                                   staging does) instead of fs.writeSync on the JS thread
//   LOFT_BENCH_FUSE_OPTS            the ceiling's -o options instead of the drive's (lib/ceiling.ts)
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { chunkFile } from '../../src/client/chunk/chunk-file.js';
import { DEFAULT_CHUNK_PARAMS, StreamingChunker } from '../../src/client/chunk/streaming-chunker.js';
import { readAt } from '../../test/helpers/fixtures.js';
import { PASSTHROUGH_RW, startCeilingFs } from './lib/ceiling.js';
import { GiB, KiB, MiB, parseFlags, parseSize, UsageError } from './lib/cli.js';
import { loftCommitted, loftStatus, mountLoft, startLoftServer, type LoftMount } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { unmount } from './lib/mounts.js';
import { messageOf, track, untrack, withTimeout } from './lib/proc.js';
import {
  mountRclone,
  NOT_INSTALLED,
  rcloneCommitted,
  rcloneInstalled,
  rcloneVersion,
  startRcloneServer,
  type RcloneMount,
} from './lib/rclone.js';
import { cpuPressure, median } from './lib/report.js';

const USAGE =
  'usage: node scripts/bench/write.mjs [--runs N] [--size SIZE] [--files N] [--only loft,rclone,ceiling] [--prepend SIZE]';
const WRITE_BUF = MiB; // one write(2) of 1 MiB at a time, like `dd bs=1M`
const PATCH_SIZE = MiB;
const NEW_FILE_SIZE = MiB;
const CACHE_SIZE = '2G'; // Loft --cache-size and rclone --vfs-cache-max-size: the same cap
const POLL_MS = 2; // commit-latency polling interval (control socket / rclone rc)
const COMMIT_TIMEOUT_MS = 600_000;
const OP_TIMEOUT_MS = 600_000; // one measured file operation; past it the mount is torn down
// rclone mount flags, one by one:
//   --vfs-cache-mode writes   the mode for writing through a mount: files opened for writing are
//                             buffered in a disk cache and uploaded after close (like Loft's
//                             staging + push loop); "full" behaves the same for writes
//   --vfs-write-back 0s       upload as soon as the file is closed (default 5s: a deliberate delay
//                             that would add 5 s to every close→committed time; Loft has none)
//   --vfs-cache-max-size 2G   the same cap as Loft's --cache-size 2G
//   --dir-cache-time 1h       as in drive.ts
//   (lib/rclone.ts adds --config /dev/null and the remote control on 127.0.0.1 for vfs/stats)
const RCLONE_MOUNT_FLAGS = [
  '--vfs-cache-mode',
  'writes',
  '--vfs-write-back',
  '0s',
  '--vfs-cache-max-size',
  CACHE_SIZE,
  '--dir-cache-time',
  '1h',
];
const SYSTEMS = ['loft', 'rclone', 'ceiling'] as const;
type System = (typeof SYSTEMS)[number];

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(2)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}

const num = (v: number, d = 0): string =>
  Number.isFinite(v)
    ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
    : 'n/a';

// ---- byte-counting TCP proxy ----------------------------------------------------------------------------

interface Proxy {
  up: number;
  down: number;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** 127.0.0.1:<port> → 127.0.0.1:targetPort; counts client→server (up) and server→client (down). */
async function startProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const s = net.connect(targetPort, '127.0.0.1');
    c.setNoDelay(true);
    s.setNoDelay(true);
    sockets.add(c);
    sockets.add(s);
    c.on('data', (d: Buffer) => (p.up += d.length));
    s.on('data', (d: Buffer) => (p.down += d.length));
    c.pipe(s);
    s.pipe(c);
    const kill = (): void => {
      c.destroy();
      s.destroy();
    };
    c.on('error', kill);
    s.on('error', kill);
    c.on('close', () => (sockets.delete(c), s.destroy()));
    s.on('close', () => (sockets.delete(s), c.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const p: Proxy = {
    up: 0,
    down: 0,
    port,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      untrack(p);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  track(p);
  return p;
}

// ---- file operations (what a user's program does) --------------------------------------------------------

interface SeqWrite {
  mbps: number;
  writeMbps: number;
  fsyncMs: number;
  closeMs: number;
  closedAt: number;
}

/** open(O_CREAT|O_TRUNC), 1 MiB writes, fsync, close; timings. */
async function seqWrite(file: string, buf: Buffer): Promise<SeqWrite> {
  const t0 = performance.now();
  const fh = await fsp.open(file, 'w');
  let tWrite = NaN;
  let tSync = NaN;
  try {
    for (let off = 0; off < buf.length; off += WRITE_BUF) {
      const n = Math.min(WRITE_BUF, buf.length - off);
      const { bytesWritten } = await fh.write(buf, off, n, off);
      if (bytesWritten !== n) throw new Error(`short write at ${off} of ${file}`);
    }
    tWrite = performance.now();
    await fh.sync();
    tSync = performance.now();
  } finally {
    await fh.close();
  }
  const tClose = performance.now();
  const mb = buf.length / 1e6;
  return {
    mbps: mb / ((tClose - t0) / 1000),
    writeMbps: mb / ((tWrite - t0) / 1000),
    fsyncMs: tSync - tWrite,
    closeMs: tClose - tSync,
    closedAt: tClose,
  };
}

/** open(O_CREAT|O_TRUNC), 1 MiB writes, close (no fsync: close is the commit point); returns when close returned. */
async function writeWhole(file: string, buf: Buffer): Promise<number> {
  const fh = await fsp.open(file, 'w');
  try {
    for (let off = 0; off < buf.length; off += WRITE_BUF) {
      const n = Math.min(WRITE_BUF, buf.length - off);
      const { bytesWritten } = await fh.write(buf, off, n, off);
      if (bytesWritten !== n) throw new Error(`short write at ${off} of ${file}`);
    }
  } finally {
    await fh.close();
  }
  return performance.now();
}

/** open(O_RDWR), one write of `patch` at `offset`, close; returns { closedAt, ms (open→close) }. */
async function writeInPlace(
  file: string,
  patch: Buffer,
  offset: number,
): Promise<{ closedAt: number; ms: number }> {
  const t0 = performance.now();
  const fh = await fsp.open(file, 'r+');
  try {
    const { bytesWritten } = await fh.write(patch, 0, patch.length, offset);
    if (bytesWritten !== patch.length) throw new Error(`short write at ${offset} of ${file}`);
  } finally {
    await fh.close();
  }
  const closedAt = performance.now();
  return { closedAt, ms: closedAt - t0 };
}

const sizeOf = (file: string): number => {
  try {
    return fs.statSync(file).size;
  } catch {
    return -1;
  }
};
const rangeIs = async (file: string, offset: number, expected: Buffer): Promise<boolean> => {
  try {
    return (await readAt(file, offset, expected.length)).equals(expected);
  } catch {
    return false;
  }
};

// ---- chunk accounting (the minimum a content-defined chunker must send) -------------------------------------

function chunksOf(buf: Buffer): { hash: string; size: number }[] {
  const c = new StreamingChunker(DEFAULT_CHUNK_PARAMS);
  return c
    .push(buf)
    .concat(c.end())
    .map((ch) => ({ hash: sha256(Buffer.from(ch.data)), size: ch.data.length }));
}

/** Chunks of `after` whose hash is not among the chunks of `before`: what must be uploaded. */
function freshChunks(before: Buffer, after: Buffer): { chunks: number; bytes: number } {
  const known = new Set(chunksOf(before).map((c) => c.hash));
  const fresh = chunksOf(after).filter((c) => !known.has(c.hash));
  return { chunks: fresh.length, bytes: fresh.reduce((n, c) => n + c.size, 0) };
}

// ---- one run of one system ------------------------------------------------------------------------------

interface Data {
  big: Buffer;
  bigFile: string;
  p64: Buffer;
  p64pre: Buffer;
  patch: Buffer;
  patchOffset: number;
  small: Buffer[];
}
interface Counters {
  uploaded: number;
  downloaded?: number;
  wireUp: number;
  wireDown: number;
}
interface Result {
  seq: number;
  bigCommitS?: number;
  bigUp?: Counters;
  prepend?: number;
  prependS?: number;
  prependUp?: Counters;
  newFileMs?: number;
  newFileUp?: number;
  rewrite?: number;
  rewriteS?: number;
  rewriteUp?: Counters;
  notes: {
    seq: SeqWrite;
    newFileMs?: number[];
    rewriteOpenCloseMs?: number;
    ops?: { ops: Record<string, number>; writeLens: Record<string, number> };
  };
}
type Mount = (LoftMount | RcloneMount) & { stop(): Promise<void> };
type Landed = () => Promise<boolean>;
/** What measureRemote needs of a system. */
interface RemoteSys {
  name: string;
  mount(label: string): Promise<Mount>;
  unmount(m: Mount): Promise<void>;
  /** performance.now() once the change is on the server. */
  committed(m: Mount, what: string, landed: Landed): Promise<number>;
  counters(m: Mount): Promise<Counters>;
  landed: {
    whole(name: string, buf: Buffer): Landed;
    range(name: string, offset: number, buf: Buffer, full: Buffer): Landed;
  };
  verify(d: Data): Promise<void>;
}

/** SIGKILL a mount's process and unmount it (an operation that hangs). */
async function abortMount(m: Mount): Promise<void> {
  if (m.sys === 'loft') await m.process.stop('SIGKILL');
  else m.child.proc.kill('SIGKILL');
  await unmount(m.mnt);
}

const delta = (a: Counters, b: Counters): Counters => ({
  uploaded: b.uploaded - a.uploaded,
  downloaded: (b.downloaded ?? NaN) - (a.downloaded ?? NaN),
  wireUp: b.wireUp - a.wireUp,
  wireDown: b.wireDown - a.wireDown,
});

/** The steps shared by Loft and rclone. */
async function measureRemote(
  sys: RemoteSys,
  data: Data,
  run: number,
  log: (m: string) => void,
): Promise<Result> {
  const timed = <T>(m: Mount, what: string, promise: Promise<T>): Promise<T> =>
    withTimeout(OP_TIMEOUT_MS, `${sys.name}: ${what}`, promise, () => abortMount(m));

  // ---- mount 1 ----
  let m = await sys.mount('m1');
  let r: Result;
  try {
    const big = path.join(m.mnt, 'big.bin');
    let c0 = await sys.counters(m);
    const seq = await timed(m, 'sequential write', seqWrite(big, data.big));
    r = { seq: seq.mbps, notes: { seq } };
    const done1 = await sys.committed(m, 'big.bin', sys.landed.whole('big.bin', data.big));
    r.bigCommitS = (done1 - seq.closedAt) / 1000;
    r.bigUp = delta(c0, await sys.counters(m));
    log(
      `run ${run}: ${sys.name}: sequential write ${seq.mbps.toFixed(0)} MB/s; committed ${r.bigCommitS.toFixed(1)} s after close, ${fmtBytes(r.bigUp.uploaded)} uploaded`,
    );

    // 3. one byte prepended to a 64 MiB file
    const p64 = path.join(m.mnt, 'p64.bin');
    await timed(m, 'write p64.bin', writeWhole(p64, data.p64));
    await sys.committed(m, 'p64.bin', sys.landed.whole('p64.bin', data.p64));
    c0 = await sys.counters(m);
    const closedAt = await timed(m, 'rewrite p64.bin', writeWhole(p64, data.p64pre));
    const done3 = await sys.committed(m, 'p64.bin (prepended)', sys.landed.whole('p64.bin', data.p64pre));
    r.prependS = (done3 - closedAt) / 1000;
    r.prependUp = delta(c0, await sys.counters(m));
    r.prepend = r.prependUp.uploaded;
    log(
      `run ${run}: ${sys.name}: prepend: ${fmtBytes(r.prepend)} uploaded, committed ${(r.prependS * 1000).toFixed(0)} ms after close`,
    );

    // 4. new 1 MiB files
    const lat: number[] = [];
    const ups: number[] = [];
    for (let i = 0; i < data.small.length; i++) {
      const name = `new-${String(i).padStart(2, '0')}.bin`;
      const before = await sys.counters(m);
      const closed = await timed(m, `write ${name}`, writeWhole(path.join(m.mnt, name), data.small[i]!));
      const done = await sys.committed(m, name, sys.landed.whole(name, data.small[i]!));
      lat.push(done - closed);
      ups.push(delta(before, await sys.counters(m)).uploaded);
    }
    r.newFileMs = median(lat);
    r.notes.newFileMs = lat;
    r.newFileUp = median(ups);
    log(
      `run ${run}: ${sys.name}: new 1 MiB file: close → committed median ${r.newFileMs.toFixed(1)} ms (min ${Math.min(...lat).toFixed(1)}, max ${Math.max(...lat).toFixed(1)})`,
    );
  } finally {
    await sys.unmount(m);
  }

  // ---- mount 2: big.bin is cloud-only here ----
  m = await sys.mount('m2');
  try {
    const big = path.join(m.mnt, 'big.bin');
    const c0 = await sys.counters(m);
    const w = await timed(m, 'rewrite 1 MiB in place', writeInPlace(big, data.patch, data.patchOffset));
    const done = await sys.committed(
      m,
      'the 1 MiB rewrite',
      sys.landed.range('big.bin', data.patchOffset, data.patch, data.big),
    );
    r.rewriteS = (done - w.closedAt) / 1000;
    r.rewriteUp = delta(c0, await sys.counters(m));
    r.rewrite = r.rewriteUp.uploaded;
    r.notes.rewriteOpenCloseMs = w.ms;
    log(
      `run ${run}: ${sys.name}: 1 MiB rewrite: open→close ${w.ms.toFixed(0)} ms, ${fmtBytes(r.rewrite)} uploaded, ` +
        `committed ${(r.rewriteS * 1000).toFixed(0)} ms after close`,
    );
  } finally {
    await sys.unmount(m);
  }

  await sys.verify(data);
  return r;
}

async function measureLoft(data: Data, work: string, run: number, log: (m: string) => void): Promise<Result> {
  const dir = path.join(work, `loft-r${run}`);
  fs.mkdirSync(dir);
  const srv = await startLoftServer(dir);
  const proxy = await startProxy(Number(new URL(srv.url).port));
  try {
    const mount = (label: string): Promise<LoftMount> =>
      mountLoft({ url: proxy.url, token: srv.token }, dir, label, CACHE_SIZE);
    const sys: RemoteSys = {
      name: 'loft',
      mount,
      unmount: async (m) => {
        await m.stop();
        fs.rmSync(m.state, { recursive: true, force: true });
      },
      // Loft's own status says when it is committed.
      committed: (m, what) => loftCommitted(m as LoftMount, what, COMMIT_TIMEOUT_MS, POLL_MS),
      counters: async (m) => {
        const s = await loftStatus(m as LoftMount);
        return {
          uploaded: s.uploadedBytes,
          downloaded: s.downloadedBytes,
          wireUp: proxy.up,
          wireDown: proxy.down,
        };
      },
      landed: { whole: () => async () => true, range: () => async () => true },
      verify: async (d) => {
        // A fresh mount reads what the server has.
        const m = await mount('m3');
        try {
          await verifyTree(m.mnt, d, 'loft (fresh mount, from the server)');
        } finally {
          await sys.unmount(m);
        }
      },
    };
    return await measureRemote(sys, data, run, log);
  } finally {
    await proxy.stop();
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function measureRclone(
  data: Data,
  work: string,
  run: number,
  log: (m: string) => void,
): Promise<Result> {
  const dir = path.join(work, `rclone-r${run}`);
  fs.mkdirSync(dir);
  const srv = await startRcloneServer(dir);
  const proxy = await startProxy(Number(new URL(srv.url).port));
  const be = (name: string): string => path.join(srv.backend, name);
  try {
    const sys: RemoteSys = {
      name: 'rclone',
      mount: (label) => mountRclone({ url: `${proxy.url}/` }, dir, label, RCLONE_MOUNT_FLAGS),
      unmount: async (m) => {
        await m.stop();
        fs.rmSync(m.state, { recursive: true, force: true });
      },
      committed: (m, what, landed) =>
        rcloneCommitted(m as RcloneMount, what, landed, COMMIT_TIMEOUT_MS, POLL_MS),
      counters: async () => ({ uploaded: proxy.up, wireUp: proxy.up, wireDown: proxy.down }),
      landed: {
        whole: (name, buf) => async () =>
          sizeOf(be(name)) === buf.length &&
          (await rangeIs(be(name), 0, buf.subarray(0, Math.min(buf.length, MiB + 1)))) &&
          (await rangeIs(
            be(name),
            Math.max(0, buf.length - MiB),
            buf.subarray(Math.max(0, buf.length - MiB)),
          )),
        // rclone's local backend rewrites the whole file from the start (truncate, then sequential
        // writes), and vfs/stats was seen empty while that was still under way: the new bytes,
        // the full size and the old tail must all be there.
        range: (name, offset, buf, full) => async () =>
          sizeOf(be(name)) === full.length &&
          (await rangeIs(be(name), offset, buf)) &&
          (await rangeIs(be(name), full.length - MiB, full.subarray(full.length - MiB))),
      },
      verify: (d) => verifyTree(srv.backend, d, 'rclone (its backend directory)'),
    };
    return await measureRemote(sys, data, run, log);
  } finally {
    await proxy.stop();
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** After all steps: big.bin has the patch and intact neighbours, p64.bin the prepended content, new-00 its bytes. */
async function verifyTree(root: string, d: Data, where: string): Promise<void> {
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  const big = path.join(root, 'big.bin');
  if (sizeOf(big) !== d.big.length) fail(`big.bin has ${sizeOf(big)} bytes, expected ${d.big.length}`);
  if (!(await rangeIs(big, d.patchOffset, d.patch))) fail('big.bin lacks the 1 MiB rewrite');
  const before = Math.max(0, d.patchOffset - MiB);
  if (!(await rangeIs(big, before, d.big.subarray(before, d.patchOffset))))
    fail('big.bin: wrong bytes before the rewrite');
  const after = d.patchOffset + d.patch.length;
  if (!(await rangeIs(big, after, d.big.subarray(after, after + MiB))))
    fail('big.bin: wrong bytes after the rewrite');
  if (!(await rangeIs(big, 0, d.big.subarray(0, MiB)))) fail('big.bin: wrong first 1 MiB');
  const p64 = path.join(root, 'p64.bin');
  if (sizeOf(p64) !== d.p64pre.length) fail(`p64.bin has ${sizeOf(p64)} bytes, expected ${d.p64pre.length}`);
  const got = await readAt(p64, 0, d.p64pre.length);
  if (!got.equals(d.p64pre)) fail('p64.bin: wrong content after the prepend');
  if (!(await rangeIs(path.join(root, 'new-00.bin'), 0, d.small[0]!))) fail('new-00.bin: wrong content');
}

async function measureCeiling(
  data: Data,
  work: string,
  run: number,
  log: (m: string) => void,
): Promise<Result> {
  const dir = path.join(work, `ceiling-r${run}`);
  const backing = path.join(dir, 'backing');
  fs.mkdirSync(backing, { recursive: true });
  const c = await startCeilingFs(backing, path.join(dir, 'mnt'), { program: PASSTHROUGH_RW });
  let r: Result | undefined;
  try {
    const seq = await withTimeout(
      OP_TIMEOUT_MS,
      'ceiling: sequential write',
      seqWrite(path.join(c.mnt, 'big.bin'), data.big),
      async () => {
        c.child.proc.kill('SIGKILL');
        await unmount(c.mnt);
      },
    );
    r = { seq: seq.mbps, notes: { seq } };
    const file = path.join(backing, 'big.bin');
    if (
      sizeOf(file) !== data.big.length ||
      !(await rangeIs(file, data.patchOffset, data.big.subarray(data.patchOffset, data.patchOffset + MiB)))
    )
      throw new Error('ceiling: big.bin in the backing directory is wrong');
    log(`run ${run}: ceiling: sequential write ${seq.mbps.toFixed(0)} MB/s`);
  } finally {
    await c.stop();
    const stats = /^ceiling stats (.*)$/m.exec(c.child.stderr);
    if (stats && r) r.notes.ops = JSON.parse(stats[1]!) as Result['notes']['ops'];
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return r;
}

interface Machine {
  localWrite: number;
  chunk: number;
  sha: number;
  chunks: number;
}

/** The machine: local-disk write of the same bytes, chunk + hash with Loft's chunkFile, SHA-256 alone. */
async function measureMachine(data: Data, work: string): Promise<Machine> {
  const file = path.join(work, 'local-write.bin');
  const seq = await seqWrite(file, data.big);
  fs.rmSync(file, { force: true });
  let t0 = performance.now();
  const chunked = await chunkFile(data.bigFile);
  const chunkMbps = data.big.length / 1e6 / ((performance.now() - t0) / 1000);
  if (chunked.size !== data.big.length) throw new Error('chunkFile: wrong size');
  t0 = performance.now();
  for (let off = 0; off < data.big.length; off += MiB)
    createHash('sha256')
      .update(data.big.subarray(off, off + MiB))
      .digest();
  const shaMbps = data.big.length / 1e6 / ((performance.now() - t0) / 1000);
  return { localWrite: seq.mbps, chunk: chunkMbps, sha: shaMbps, chunks: chunked.blocks.length };
}

// ---- main -----------------------------------------------------------------------------------------------------

runBench('write', async ({ work, log }) => {
  const o = parseFlags(
    process.argv.slice(2),
    { runs: 3, size: '1G', files: 20, only: [...SYSTEMS] as string[], prepend: '64M' },
    USAGE,
    { only: SYSTEMS },
  );
  const size = parseSize(o.size);
  if (!(size >= 16 * MiB) || size % MiB) throw new UsageError(`${USAGE} (size: a multiple of 1M, ≥ 16M)`);
  const prependSize = parseSize(o.prepend);
  if (!(prependSize >= MiB) || prependSize % MiB)
    throw new UsageError(`${USAGE} (prepend: a multiple of 1M, ≥ 1M)`);
  const want = (s: System): boolean => o.only.includes(s);

  log(`making ${fmtBytes(size)} + ${fmtBytes(prependSize)} + ${o.files} MiB of random data…`);
  const big = Buffer.allocUnsafe(size);
  for (let off = 0; off < big.length; off += 256 * MiB)
    randomFillSync(big, off, Math.min(256 * MiB, big.length - off));
  const p64 = randomBytes(prependSize);
  const p64pre = Buffer.concat([Buffer.from([0x4c]), p64]);
  const patch = randomBytes(PATCH_SIZE);
  const patchOffset = Math.floor(size / 2 / MiB) * MiB; // 512 MiB of 1 GiB
  const small = Array.from({ length: o.files }, () => randomBytes(NEW_FILE_SIZE));
  const bigFile = path.join(work, 'big.bin');
  fs.writeFileSync(bigFile, big);
  const data: Data = { big, bigFile, p64, p64pre, patch, patchOffset, small };
  await chunkFile(bigFile); // loads and grows the chunker's wasm memory outside the timings
  // The least a 1 MiB-average FastCDC can send for each edit (a window around the rewrite is
  // enough: chunk boundaries re-synchronise within a chunk or two on both sides).
  const win0 = Math.max(0, patchOffset - 32 * MiB);
  const win1 = Math.min(size, patchOffset + PATCH_SIZE + 32 * MiB);
  const oldWin = big.subarray(win0, win1);
  const newWin = Buffer.from(oldWin);
  patch.copy(newWin, patchOffset - win0);
  const minimum = { rewrite: freshChunks(oldWin, newWin), prepend: freshChunks(p64, p64pre) };
  log(
    `least FastCDC upload: rewrite ${minimum.rewrite.chunks} chunks (${fmtBytes(minimum.rewrite.bytes)}), ` +
      `prepend ${minimum.prepend.chunks} chunks (${fmtBytes(minimum.prepend.bytes)})`,
  );

  const unavailable: Partial<Record<System, string>> = {};
  let rcloneLine = '';
  if (want('rclone')) {
    if (await rcloneInstalled()) rcloneLine = await rcloneVersion();
    else unavailable.rclone = NOT_INSTALLED;
  }
  const results: Record<System, Result[]> = { loft: [], rclone: [], ceiling: [] };
  const errors: Record<System, string[]> = { loft: [], rclone: [], ceiling: [] };
  const machine: Machine[] = [];

  const pressure: number[] = []; // other processes' CPU pressure before each run (none of ours is running)
  for (let run = 1; run <= o.runs; run++) {
    pressure.push(cpuPressure());
    log(`run ${run}/${o.runs}: machine limits (CPU pressure before the run: ${num(pressure.at(-1)!)}%)…`);
    const mc = await measureMachine(data, work);
    machine.push(mc);
    log(
      `run ${run}: machine: local write ${mc.localWrite.toFixed(0)} MB/s, chunkFile ${mc.chunk.toFixed(0)} MB/s, SHA-256 ${mc.sha.toFixed(0)} MB/s`,
    );
    for (const s of SYSTEMS) {
      if (!want(s) || unavailable[s]) continue;
      log(`run ${run}/${o.runs}: ${s}…`);
      try {
        const r =
          s === 'loft'
            ? await measureLoft(data, work, run, log)
            : s === 'rclone'
              ? await measureRclone(data, work, run, log)
              : await measureCeiling(data, work, run, log);
        results[s].push(r);
      } catch (err) {
        log(`run ${run}/${o.runs}: ${s} failed: ${messageOf(err)}`);
        errors[s].push(`run ${run}: ${messageOf(err)}`);
      }
    }
  }

  // ---- report ----
  type Get<T> = (r: T) => number | undefined;
  const vals = <T>(xs: T[], get: Get<T>): number[] =>
    xs.map(get).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const med = (s: System, get: Get<Result>): number => median(vals(results[s], get));
  const medM = (get: Get<Machine>): number => median(vals(machine, get));
  const cellOf = (s: System, get: Get<Result>, fmt: (v: number) => string): string => {
    if (!want(s)) return '—';
    if (unavailable[s]) return unavailable[s]!;
    const v = med(s, get);
    return Number.isFinite(v) ? fmt(v) : 'n/a';
  };
  const chunksNote = (bytes: number): string =>
    `${fmtBytes(bytes)} (≈${num(bytes / MiB, 1)} chunks of 1 MiB avg)`;
  interface Row {
    label: string;
    get?: Get<Result>;
    getMachine?: Get<Machine>;
    fmt?: (v: number) => string;
    loftFmt?: (v: number) => string;
    ceiling: string;
    bar: string;
    met?: (v: number) => boolean;
  }
  const ROWS: Row[] = [
    {
      label: `1. sequential write, ${fmtBytes(size)}, 1 MiB writes + fsync, open → close (MB/s)`,
      get: (r) => r.seq,
      fmt: (v) => num(v),
      ceiling: cellOf(
        'ceiling',
        (r) => r.seq,
        (v) => num(v),
      ),
      bar: '≥ 150 MB/s',
      met: (v) => v >= 150,
    },
    {
      label: `2. 1 MiB rewritten at ${fmtBytes(patchOffset)} of a committed cloud-only ${fmtBytes(size)} file: bytes uploaded`,
      get: (r) => r.rewrite,
      fmt: fmtBytes,
      ceiling: `— (least possible: ${fmtBytes(minimum.rewrite.bytes)}, ${minimum.rewrite.chunks} chunks)`,
      bar: '≤ 4 MiB',
      met: (v) => v <= 4 * MiB,
    },
    {
      label: '2. the same rewrite: close → committed (s)',
      get: (r) => r.rewriteS,
      fmt: (v) => num(v, 3),
      ceiling: '—',
      bar: '≤ 1.5 s',
      met: (v) => v <= 1.5,
    },
    {
      label: `3. 1 byte prepended to a committed ${fmtBytes(prependSize)} file (rewritten from scratch): bytes uploaded`,
      get: (r) => r.prepend,
      fmt: fmtBytes,
      loftFmt: chunksNote,
      ceiling: `— (least possible: ${fmtBytes(minimum.prepend.bytes)}, ${minimum.prepend.chunks} chunks)`,
      bar: '≤ 8 MiB (≤ 2 chunks)',
      met: (v) => v <= 8 * MiB,
    },
    {
      label: `4. new 1 MiB file: close → committed, median of ${o.files} files (ms)`,
      get: (r) => r.newFileMs,
      fmt: (v) => num(v, 1),
      ceiling: '—',
      bar: '≤ 100 ms',
      met: (v) => v <= 100,
    },
    {
      label: `5. chunk + hash, ${fmtBytes(size)} file in page cache (MB/s; ceiling: SHA-256 alone)`,
      getMachine: (m) => m.chunk,
      fmt: (v) => num(v),
      ceiling: num(medM((m) => m.sha)),
      bar: '≥ 700 MB/s',
      met: (v) => v >= 700,
    },
    {
      label: `machine: local-disk write of the same ${fmtBytes(size)}, 1 MiB writes + fsync (MB/s)`,
      ceiling: num(medM((m) => m.localWrite)),
      bar: '—',
    },
  ];
  const out: string[] = [];
  out.push(`Loft write benchmark: ${o.runs} run(s); median across runs (MB = 10^6 bytes, MiB = 2^20)\n`);
  out.push('| metric | Loft | rclone | ceiling | bar | met? |');
  out.push('|---|---:|---:|---:|---|---|');
  for (const row of ROWS) {
    if (!row.get && !row.getMachine) {
      out.push(`| ${row.label} | — | — | ${row.ceiling} | ${row.bar} | — |`);
      continue;
    }
    const loftV = row.getMachine ? medM(row.getMachine) : want('loft') ? med('loft', row.get!) : NaN;
    const loftCell = row.getMachine ? row.fmt!(loftV) : cellOf('loft', row.get!, row.loftFmt ?? row.fmt!);
    const rcloneCell = row.getMachine ? '— (no chunking)' : cellOf('rclone', row.get!, row.fmt!);
    const met = Number.isFinite(loftV) ? (row.met!(loftV) ? 'met' : '**not met**') : 'n/a';
    out.push(`| ${row.label} | ${loftCell} | ${rcloneCell} | ${row.ceiling} | ${row.bar} | ${met} |`);
  }

  // ---- details: every run, and what the medians hide ----
  const lines: string[] = [];
  const runsOf = <T>(xs: T[], get: Get<T>, fmt: (v: number) => string): string =>
    vals(xs, get).map(fmt).join(', ') || 'n/a';
  const live = (s: System): boolean => want(s) && !unavailable[s] && results[s].length > 0;
  const details: [string, Get<Result>, (v: number) => string][] = [
    ['sequential write MB/s', (r) => r.seq, (v) => num(v)],
    ['rewrite bytes uploaded', (r) => r.rewrite, fmtBytes],
    ['rewrite close → committed s', (r) => r.rewriteS, (v) => num(v, 3)],
    ['prepend bytes uploaded', (r) => r.prepend, fmtBytes],
    ['new file close → committed ms (median)', (r) => r.newFileMs, (v) => num(v, 1)],
  ];
  for (const [name, get, fmt] of details) {
    const parts = SYSTEMS.filter((s) => live(s) && vals(results[s], get).length).map(
      (s) => `${s}: ${runsOf(results[s], get, fmt)}`,
    );
    if (parts.length) lines.push(`all runs, ${name}: ${parts.join(' · ')}`);
  }
  const n0 = (v: number): string => num(v);
  lines.push(
    `all runs, chunk + hash MB/s: chunkFile ${runsOf(machine, (m) => m.chunk, n0)} · SHA-256 ${runsOf(machine, (m) => m.sha, n0)}; local write MB/s ${runsOf(machine, (m) => m.localWrite, n0)}`,
  );
  for (const s of SYSTEMS) {
    if (!live(s)) continue;
    const n = (get: Get<Result>): number => med(s, get);
    lines.push(
      `${s}: sequential write split: writes alone ${num(n((r) => r.notes.seq.writeMbps))} MB/s, fsync ${num(n((r) => r.notes.seq.fsyncMs))} ms, close ${num(
        n((r) => r.notes.seq.closeMs),
        1,
      )} ms`,
    );
    if (s === 'ceiling') {
      const ops = results.ceiling[0]?.notes.ops;
      if (ops)
        lines.push(
          `ceiling FUSE ops for the ${fmtBytes(size)} write (run 1): ${Object.entries(ops.ops)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}; write sizes: ${Object.entries(ops.writeLens)
            .map(([k, v]) => `${fmtBytes(Number(k))} × ${v}`)
            .join(', ')}`,
        );
      continue;
    }
    const allLat = results[s].flatMap((r) => r.notes.newFileMs ?? []);
    const sorted = [...allLat].sort((a, b) => a - b);
    const pct = (p: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
    lines.push(
      `${s}: ${fmtBytes(size)} file committed ${num(
        n((r) => r.bigCommitS),
        1,
      )} s after close ` +
        `(${fmtBytes(n((r) => r.bigUp?.uploaded))} uploaded${s === 'loft' ? ` per uploadedBytes, ${fmtBytes(n((r) => r.bigUp?.wireUp))} on the wire` : ' on the wire'}); ` +
        `new 1 MiB files, all ${allLat.length}: p50 ${num(pct(50), 1)} ms, p90 ${num(pct(90), 1)} ms, max ${num(sorted.at(-1) ?? NaN, 1)} ms, ` +
        `${fmtBytes(n((r) => r.newFileUp))} uploaded per file`,
    );
    lines.push(
      `${s}: rewrite: open → write → close ${num(
        n((r) => r.notes.rewriteOpenCloseMs),
        1,
      )} ms; ` +
        (s === 'loft'
          ? `uploadedBytes ${fmtBytes(n((r) => r.rewriteUp?.uploaded))}, downloadedBytes ${fmtBytes(n((r) => r.rewriteUp?.downloaded))}, wire up ${fmtBytes(n((r) => r.rewriteUp?.wireUp))} / down ${fmtBytes(n((r) => r.rewriteUp?.wireDown))}`
          : `wire up ${fmtBytes(n((r) => r.rewriteUp?.wireUp))} / down ${fmtBytes(n((r) => r.rewriteUp?.wireDown))} (it fetches and re-sends the whole file)`) +
        `; prepend: committed ${num(n((r) => (r.prependS ?? NaN) * 1000))} ms after close, wire up ${fmtBytes(n((r) => r.prependUp?.wireUp))}`,
    );
  }
  for (const s of SYSTEMS)
    if (errors[s].length) lines.push(`${s}: failed run(s), left out of the medians: ${errors[s].join('; ')}`);
  lines.push(
    `least possible upload (the new FastCDC chunks, 256 KiB / 1 MiB / 4 MiB, not among the old ones): rewrite ${minimum.rewrite.chunks} chunks = ${fmtBytes(minimum.rewrite.bytes)}; prepend ${minimum.prepend.chunks} chunks = ${fmtBytes(minimum.prepend.bytes)}`,
  );
  lines.push(
    `Loft: \`loft mount --state <fresh> --cache-size ${CACHE_SIZE}\` on \`loft serve --data <fresh>\` at 127.0.0.1 (through a counting proxy); bytes uploaded = uploadedBytes of the control socket's /status; committed = pending 0 and uploading 0, polled every ${POLL_MS} ms`,
  );
  if (live('rclone'))
    lines.push(
      `rclone: ${rcloneLine}: \`rclone mount :webdav,url=…: --cache-dir <fresh> ${RCLONE_MOUNT_FLAGS.join(' ')} --rc\` on \`rclone serve webdav <fresh dir>\` at 127.0.0.1; bytes uploaded = bytes it sent to the webdav server (HTTP headers included); committed = vfs/stats shows no upload queued or in progress and the backend file has the new bytes, polled every ${POLL_MS} ms`,
    );
  if (live('ceiling')) {
    const { ceilingFuseOptions } = await import('./lib/ceiling.js');
    lines.push(
      `ceiling: passthrough-rw-fs (fuse-native passthrough to a local directory, pwrite on the JS thread, getxattr answered like Loft), -o ${(await ceilingFuseOptions()).join(',')} (the drive's, lib/ceiling.ts); it has no remote, so rows 2-4 have none`,
    );
  }
  lines.push(
    `CPU pressure from other processes before each run (PSI cpu "some" avg10, % of time some task waited for a CPU): ${pressure.map((v) => num(v)).join(', ')}; the machine is shared, so numbers vary`,
  );
  const cpus = os.cpus();
  lines.push(
    `machine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores, ${fmtBytes(os.totalmem())} RAM (${os.platform()} ${os.release()}); load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  out.push(`\n${lines.map((l) => `- ${l}`).join('\n')}`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (SYSTEMS.some((s) => errors[s].length)) process.exitCode = 1;
});
