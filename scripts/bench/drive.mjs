#!/usr/bin/env node
// The drive benchmark: `loft mount` against `rclone mount --vfs-cache-mode full` and against the
// ceiling of a FUSE filesystem on fuse-native (scripts/bench/passthrough-fs.mjs), on the same data.
// Usage: node scripts/bench/drive.mjs [--runs 3] [--size 1G] [--files 10000] [--only loft,rclone,ceiling]
//
// Data (made once per invocation, served to every system): SIZE random (incompressible) bytes in
// big.bin and FILES files of 1 KiB in small/, in a local source directory.
//   Loft:    `loft serve` on 127.0.0.1; the data is uploaded through the HTTP API (1 MiB fixed-size
//            blocks, PUT /v1/blocks + POST /v1/commit); then `loft mount --state <fresh> --cache-size 2G`.
//   rclone:  `rclone serve webdav --read-only` of the source directory on 127.0.0.1; then
//            `rclone mount :webdav,url=…: --vfs-cache-mode full --cache-dir <fresh>` (flags below).
//   ceiling: passthrough-fs.mjs with the FUSE options Loft uses (FUSE_OPTS), reading the source file.
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
// Until `loft mount` exists, the Loft column reads "n/a (loft mount failed: <its first stderr line>)".
// Environment (for developing the benchmark itself):
//   LOFT_BENCH_FUSE_OPTS    FUSE -o options of the ceiling (keep equal to what src/client/fuse uses)
//   LOFT_BENCH_RCLONE_FLAGS extra `rclone mount` flags appended to RCLONE_MOUNT_FLAGS (space-separated)
//   LOFT_BENCH_LOFT_BIN     a script used instead of bin/loft.js (e.g. a stand-in `loft mount`)
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOFT_BIN = process.env.LOFT_BENCH_LOFT_BIN
  ? path.resolve(process.env.LOFT_BENCH_LOFT_BIN)
  : path.join(ROOT, 'bin', 'loft.js');
const PASSTHROUGH = path.join(ROOT, 'scripts', 'bench', 'passthrough-fs.mjs');
const KiB = 1024;
const MiB = 1024 * KiB;
const READ_BUF = MiB; // the reader's buffer: one fs.read of 1 MiB at a time, like `dd bs=1M`
const FIRST_READ = 4 * KiB;
const FIRST_READ_OFFSET = 900 * MiB; // clamped to the file for small --size
const SMALL_FILE_SIZE = KiB;
const UPLOAD_BLOCK = MiB; // fixed-size blocks for the bench upload (the drive itself uses FastCDC)
const UPLOAD_PARALLEL = 8; // requests in flight while uploading (one keep-alive connection each)
const CACHE_SIZE = '2G'; // Loft --cache-size and rclone --vfs-cache-max-size: the same cap
const VERIFY_RANGES = 8; // random 1 MiB ranges compared with the source after the timed reads
const SETTLE_MS = 1000; // wait before the second "bytes fetched" sample (background readahead)
const MOUNT_READY_MS = 30_000;
const OP_TIMEOUT_MS = 600_000; // one measured operation; past it the mount is torn down (hung FUSE)
const STOP_GRACE_MS = 10_000; // SIGTERM → exit, before fusermount -u / -uz and SIGKILL
// The options `loft mount` passes to libfuse (src/client/fuse/fuse-mount.ts: fuse-native's
// attrTimeout/entryTimeout plus big_writes and ac_attr_timeout=0 appended in an overridden
// _fuseOptions(), as passthrough-fs.mjs does). No auto_cache: with Loft's fork of
// fuse-native (native/fuse-native) Loft sets keep_cache per open, so a warm re-read of an unchanged
// file never reaches the FUSE process; passthrough-fs.mjs sets keep_cache on every open the same
// way. Keep this list equal to what fuse-mount.ts passes.
const FUSE_OPTS = (
  process.env.LOFT_BENCH_FUSE_OPTS ?? 'big_writes,ac_attr_timeout=0,attr_timeout=10,entry_timeout=10'
)
  .split(',')
  .filter(Boolean);
// rclone mount flags a fair user would set for this workload (why, one by one):
//   --vfs-cache-mode full       the mode that, like Loft, fetches only the ranges read into a disk
//                               cache (sparse files) and serves re-reads from it
//   --cache-dir <fresh>         empty cache per mount (set per mount, below)
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
const SYSTEMS = ['loft', 'rclone', 'ceiling'];

function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?(?:i?B)?$/i.exec(s ?? '');
  if (!m) return NaN;
  const mult = { '': 1, K: KiB, M: MiB, G: 1024 * MiB, T: 1024 * 1024 * MiB }[(m[2] ?? '').toUpperCase()];
  return Math.round(Number(m[1]) * mult);
}

function parseArgs(argv) {
  const usage =
    'usage: node scripts/bench/drive.mjs [--runs N] [--size SIZE] [--files N] [--only loft,rclone,ceiling]';
  const opts = { runs: 3, size: 1024 * MiB, files: 10_000, only: [...SYSTEMS] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.split('=', 2);
    const key = flag.replace(/^--/, '');
    const value = inline ?? argv[++i];
    if (!flag.startsWith('--') || !(key in opts) || value === undefined)
      throw new Error(`${usage} (bad "${arg}")`);
    if (key === 'size') {
      opts.size = parseSize(value);
      if (!(opts.size >= 64 * KiB)) throw new Error(`${usage} (bad size "${value}": at least 64K)`);
    } else if (key === 'only') {
      opts.only = value.split(',').filter(Boolean);
      const bad = opts.only.filter((s) => !SYSTEMS.includes(s));
      if (bad.length || !opts.only.length) throw new Error(`${usage} (unknown system "${bad[0] ?? ''}")`);
    } else {
      if (!/^[1-9]\d*$/.test(value)) throw new Error(`${usage} (bad "${arg}")`);
      opts[key] = Number(value);
    }
  }
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
const want = (sys) => opts.only.includes(sys);

const log = (msg) => process.stderr.write(`drive bench: ${msg}\n`);
const execFileP = promisify(execFile);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const firstLine = (text) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? '';
function fmtBytes(n) {
  for (const [unit, size] of [
    ['GiB', 1024 * MiB],
    ['MiB', MiB],
    ['KiB', KiB],
  ])
    if (n >= size) return `${n % size === 0 ? n / size : (n / size).toFixed(1)} ${unit}`;
  return `${n} B`;
}

/** Resolves with fn's result, or tears things down with onTimeout and rejects after ms. */
async function withTimeout(ms, what, promise, onTimeout) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      Promise.resolve(onTimeout?.())
        .catch(() => {})
        .finally(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---- child processes and mounts --------------------------------------------------------------------

const children = new Set();

/** Spawns a child whose output is kept (bounded) for error messages; `closed` resolves on exit. */
function startChild(name, cmd, args, { env } = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  const c = { name, proc, stdout: '', stderr: '', exit: null };
  const keep = (key) => (d) => {
    if (c[key].length < 1 << 20) c[key] += d;
  };
  proc.stdout.on('data', keep('stdout'));
  proc.stderr.on('data', keep('stderr'));
  c.closed = new Promise((resolve) => {
    proc.once('error', (err) => {
      c.stderr += `${err.message}\n`;
      c.exit ??= 'spawn error';
      children.delete(c);
      resolve();
    });
    proc.once('close', (code, signal) => {
      c.exit ??= code ?? signal;
      children.delete(c);
      resolve();
    });
  });
  children.add(c);
  return c;
}
const alive = (c) => c.exit === null;

async function killChild(c, graceMs = STOP_GRACE_MS) {
  if (!alive(c)) return;
  c.proc.kill('SIGTERM');
  if (await Promise.race([c.closed.then(() => true), sleep(graceMs).then(() => false)])) return;
  c.proc.kill('SIGKILL');
  await c.closed;
}

/** Mount points in /proc/mounts (field 2, octal escapes decoded). */
function mountedPaths() {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[1].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
}
const isMounted = (mnt) => mountedPaths().includes(mnt);

/** fusermount -u, then -uz (lazy) when busy or refused; never throws. */
async function unmount(mnt) {
  for (const args of [['-u'], ['-uz']]) {
    if (!isMounted(mnt)) return true;
    await execFileP('fusermount', [...args, mnt]).catch(() => {});
  }
  if (isMounted(mnt)) await execFileP('umount', ['-l', mnt]).catch(() => {});
  return !isMounted(mnt);
}

const mounts = new Set(); // live { sys, mnt, child, … }

/** SIGTERM to the filesystem process (it unmounts itself), then fusermount -u / -uz, then SIGKILL. */
async function stopMount(m) {
  if (!alive(m.child)) await unmount(m.mnt);
  else {
    m.child.proc.kill('SIGTERM');
    const exited = await Promise.race([
      m.child.closed.then(() => true),
      sleep(STOP_GRACE_MS).then(() => false),
    ]);
    if (!exited) log(`${m.sys}: ${m.mnt} still running ${STOP_GRACE_MS / 1000} s after SIGTERM; forcing`);
    await unmount(m.mnt);
    await killChild(m.child, 5000);
  }
  if (!(await unmount(m.mnt))) throw new Error(`could not unmount ${m.mnt}`);
  mounts.delete(m);
}

/** Tears a mount down at once: for a hung filesystem (pending reads then fail with ENOTCONN). */
async function abortMount(m) {
  if (alive(m.child)) m.child.proc.kill('SIGKILL');
  await unmount(m.mnt);
}

const succeeds = (cmd, args) =>
  execFileP(cmd, args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );

/** Polls `check` (and that the child still runs) until it is true or MOUNT_READY_MS pass. */
async function waitReady(m, check, describe) {
  const deadline = Date.now() + MOUNT_READY_MS;
  for (;;) {
    if (!alive(m.child)) {
      await m.child.closed;
      const line = firstLine(m.child.stderr) || `exited with ${m.child.exit} before it was ready`;
      throw Object.assign(new Error(line), { mountFailed: true });
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      const state = await describe();
      throw Object.assign(new Error(`not ready after ${MOUNT_READY_MS / 1000} s (${state})`), {
        mountFailed: true,
      });
    }
    await sleep(100);
  }
}

// ---- measurements ------------------------------------------------------------------------------------

/** Sequential read of the whole file with 1 MiB reads on one fd; MB/s (open included). */
/** Whether this process may drop the kernel's page cache (root). */
function canDropCaches() {
  try {
    fs.accessSync('/proc/sys/vm/drop_caches', fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

async function seqRead(file, size) {
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
async function directRead(file, size) {
  const t0 = performance.now();
  await execFileP('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct']);
  return size / 1e6 / ((performance.now() - t0) / 1000);
}

/** open + one 4 KiB read at `offset`: ms until the bytes are here. Returns { ms, bytes }. */
async function firstRead(file, offset) {
  const buf = Buffer.alloc(FIRST_READ);
  const t0 = performance.now();
  const fh = await fsp.open(file, 'r');
  let n, ms;
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
async function timeLs(dir) {
  const devnull = fs.openSync('/dev/null', 'w');
  try {
    const t0 = performance.now();
    const proc = spawn('ls', ['-l', dir], { stdio: ['ignore', devnull, 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve, reject) => {
      proc.once('error', reject);
      proc.once('close', resolve);
    });
    const ms = performance.now() - t0;
    if (code !== 0) throw new Error(`ls -l ${dir} exited ${code}: ${firstLine(err)}`);
    return ms;
  } finally {
    fs.closeSync(devnull);
  }
}

async function readRange(file, offset, length) {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Compares VERIFY_RANGES random 1 MiB ranges and the file's tail with the source. */
async function verifySample(file, source, size) {
  const offsets = [Math.max(0, size - MiB)];
  for (let i = 0; i < VERIFY_RANGES; i++)
    offsets.push(Math.floor((Math.random() * Math.max(1, size - MiB)) / 4096) * 4096);
  for (const off of offsets) {
    const [a, b] = await Promise.all([readRange(file, off, MiB), readRange(source, off, MiB)]);
    if (!a.equals(b)) throw new Error(`wrong data in ${file} at offset ${off}`);
  }
}

/** Bytes allocated on disk under dir (sparse files count only what was written). */
function allocatedBytes(dir, name) {
  let total = 0;
  const walk = (d) => {
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

/** big.bin (random bytes) and small/f00000…; returns the 1 MiB block hashes of big.bin. */
async function makeData(src) {
  const big = path.join(src, 'big.bin');
  const blocks = [];
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

async function pool(n, items, fn) {
  let next = 0;
  const worker = async () => {
    for (let i; (i = next++) < items.length;) await fn(items[i], i);
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
}

// ---- Loft ---------------------------------------------------------------------------------------------

async function setupLoft(work, data) {
  if (!process.env.LOFT_BENCH_LOFT_BIN && !fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js')))
    throw new Error('dist/ is missing (no dist/src/cli/main.js); run npm run build first');
  const { Agent, request } = await import('undici');
  const dataDir = path.join(work, 'loft-data');
  fs.mkdirSync(dataDir);
  const server = startChild('loft serve', process.execPath, [
    LOFT_BIN,
    'serve',
    '--data',
    dataDir,
    '--listen',
    '127.0.0.1:0',
  ]);
  const url = await withTimeout(
    20_000,
    'loft serve start-up',
    (async () => {
      for (;;) {
        const m = /listening on (http:\/\/\S+)/.exec(server.stdout);
        if (m) return m[1].replace(/\/$/, '');
        if (!alive(server))
          throw new Error(`loft serve exited (${server.exit}): ${firstLine(server.stderr)}`);
        await sleep(50);
      }
    })(),
  );
  const { stdout } = await execFileP(process.execPath, [LOFT_BIN, 'user', 'add', 'bench', '--data', dataDir]);
  const token = stdout.trim().split('\n').pop();

  const agent = new Agent({
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 600_000,
    connections: UPLOAD_PARALLEL,
  });
  const call = async (method, urlPath, { json, bytes } = {}) => {
    const headers = { authorization: `Bearer ${token}` };
    let body;
    if (json !== undefined) ((headers['content-type'] = 'application/json'), (body = JSON.stringify(json)));
    if (bytes !== undefined) ((headers['content-type'] = 'application/octet-stream'), (body = bytes));
    const res = await request(url + urlPath, { method, headers, body, dispatcher: agent });
    const text = await res.body.text();
    if (res.statusCode >= 300)
      throw new Error(`${method} ${urlPath} -> ${res.statusCode}: ${text.slice(0, 300)}`);
    return JSON.parse(text);
  };
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
      const blocks = [{ hash, size: bytes.length }];
      const body = {
        path: `/small/${name}`,
        parentRev: null,
        blocks,
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
  return { server, url, token };
}

async function loftStatus(state) {
  const { stdout } = await execFileP(process.execPath, [LOFT_BIN, 'status', '--state', state, '--json'], {
    timeout: 10_000,
  });
  return JSON.parse(stdout);
}

async function mountLoft(ctx, work, label) {
  const mnt = path.join(work, 'mnt', `loft-${label}`);
  const state = path.join(work, 'state', `loft-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(state, { recursive: true });
  const args = [LOFT_BIN, 'mount', mnt, '--server', ctx.url, '--state', state, '--cache-size', CACHE_SIZE];
  // The token through the environment: a command line is visible to every local user in ps.
  const env = { ...process.env, LOFT_TOKEN: ctx.token };
  const m = {
    sys: 'loft',
    mnt,
    state,
    child: startChild(`loft mount ${label}`, process.execPath, args, { env }),
  };
  mounts.add(m);
  let statusErr = 'not run yet';
  const statusOk = () =>
    execFileP(process.execPath, [LOFT_BIN, 'status', '--state', state, '--json'], { timeout: 10_000 }).then(
      () => true,
      (err) => (
        (statusErr = `exit ${err.code ?? err.signal}: ${firstLine(err.stderr ?? '') || err.message}`),
        false
      ),
    );
  try {
    await waitReady(
      m,
      async () => (await succeeds('mountpoint', ['-q', mnt])) && (await statusOk()),
      async () => `mountpoint: ${isMounted(mnt) ? 'yes' : 'no'}, loft status: ${statusErr}`,
    );
  } catch (err) {
    await stopMount(m).catch(() => {});
    throw err;
  }
  return m;
}

// ---- rclone -------------------------------------------------------------------------------------------

async function ensureRclone() {
  if (await succeeds('sh', ['-c', 'command -v rclone'])) return;
  log('rclone is missing: installing the Debian package (apt-get install -y rclone)');
  const asRoot = process.getuid() === 0 ? [] : ['sudo', '-n'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => {
    const [cmd, ...rest] = [...asRoot, ...args];
    return execFileP(cmd, rest, { env, maxBuffer: 64 << 20 });
  };
  try {
    await run(['apt-get', 'update', '-qq']);
    await run(['apt-get', 'install', '-y', '-qq', 'rclone']);
  } catch (err) {
    throw new Error(`could not install rclone: ${firstLine(err.stderr ?? '') || err.message}`);
  }
}

async function setupRclone(work, src) {
  await ensureRclone();
  const { stdout: version } = await execFileP('rclone', ['version']);
  // rclone mount (bazil fuse) runs `fusermount3`; Debian's fuse3 package would replace fuse (and
  // libfuse2's fusermount), so rclone gets a private PATH entry where fusermount3 is fusermount.
  const fuseBin = path.join(work, 'fusebin');
  fs.mkdirSync(fuseBin);
  const { stdout: fusermount } = await execFileP('sh', ['-c', 'command -v fusermount']);
  fs.symlinkSync(fusermount.trim(), path.join(fuseBin, 'fusermount3'));
  const server = startChild('rclone serve webdav', 'rclone', [
    'serve',
    'webdav',
    src,
    '--addr',
    '127.0.0.1:0',
    '--read-only',
    '--config',
    '/dev/null',
  ]);
  const url = await withTimeout(
    20_000,
    'rclone serve webdav start-up',
    (async () => {
      for (;;) {
        const m = /WebDav Server started on (http:\/\/127\.0\.0\.1:\d+\/?)/.exec(server.stderr);
        if (m) return m[1];
        if (!alive(server))
          throw new Error(`rclone serve webdav exited (${server.exit}): ${firstLine(server.stderr)}`);
        await sleep(50);
      }
    })(),
  );
  return { server, url, fuseBin, version: firstLine(version) };
}

async function mountRclone(ctx, work, label) {
  const mnt = path.join(work, 'mnt', `rclone-${label}`);
  const cacheDir = path.join(work, 'state', `rclone-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(cacheDir, { recursive: true });
  const remote = `:webdav,url='${ctx.url}':`;
  const args = [
    'mount',
    remote,
    mnt,
    '--config',
    '/dev/null',
    '--cache-dir',
    cacheDir,
    ...RCLONE_MOUNT_FLAGS,
  ];
  const env = { ...process.env, PATH: `${ctx.fuseBin}:${process.env.PATH}` };
  const m = {
    sys: 'rclone',
    mnt,
    state: cacheDir,
    child: startChild(`rclone mount ${label}`, 'rclone', args, { env }),
  };
  mounts.add(m);
  try {
    await waitReady(
      m,
      () => succeeds('mountpoint', ['-q', mnt]),
      async () => `mountpoint: no; rclone: ${firstLine(m.child.stderr) || 'no output'}`,
    );
  } catch (err) {
    await stopMount(m).catch(() => {});
    throw err;
  }
  return m;
}

// ---- ceiling --------------------------------------------------------------------------------------------

async function mountCeiling(src, work, label, { xattr = true } = {}) {
  const mnt = path.join(work, 'mnt', `ceiling-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  const env = { ...process.env, PASSTHROUGH_READ_STATS: '1', PASSTHROUGH_XATTR: xattr ? '1' : '0' };
  const args = [PASSTHROUGH, src, mnt, '--opts', FUSE_OPTS.join(',')];
  const m = {
    sys: 'ceiling',
    mnt,
    child: startChild(`passthrough ${label}`, process.execPath, args, { env }),
  };
  mounts.add(m);
  try {
    await waitReady(
      m,
      async () => /^mounted /m.test(m.child.stdout) && (await succeeds('mountpoint', ['-q', mnt])),
      async () => `mountpoint: ${isMounted(mnt) ? 'yes' : 'no'}`,
    );
  } catch (err) {
    await stopMount(m).catch(() => {});
    throw err;
  }
  return m;
}

/** The op counters passthrough-fs.mjs prints when it stops. */
function ceilingStats(m) {
  const line = /^passthrough stats (.*)$/m.exec(m.child.stderr);
  return line ? JSON.parse(line[1]) : null;
}

// ---- one run of one system --------------------------------------------------------------------------------

const notes = {
  fetched4k: { loft: [], rclone: [] },
  fetched4kSettled: { loft: [], rclone: [] },
  coldFetched: { loft: [], rclone: [] },
  readLens: {},
  lsOps: [],
  lsOpsNoXattr: [],
};

async function measureSystem(sys, ctx, env, run) {
  const { work, data } = env;
  const r = {};
  const mount = (label, o) =>
    sys === 'loft'
      ? mountLoft(ctx, work, label)
      : sys === 'rclone'
        ? mountRclone(ctx, work, label)
        : mountCeiling(env.src, work, label, o);
  // A mount whose process stops answering must not hang the benchmark: tear it down (pending
  // reads fail with ENOTCONN) and fail this run.
  const timed = (m, what, promise) =>
    withTimeout(OP_TIMEOUT_MS, `${sys}: ${what}`, promise, () => abortMount(m));
  const fetched = async (m) =>
    sys === 'loft'
      ? (await loftStatus(m.state)).downloadedBytes
      : sys === 'rclone'
        ? allocatedBytes(path.join(m.state, 'vfs'), 'big.bin')
        : null;
  const withMount = async (label, fn, o) => {
    const m = await mount(`r${run}${label}`, o);
    try {
      await fn(m);
    } finally {
      await stopMount(m);
      if (m.state) fs.rmSync(m.state, { recursive: true, force: true });
    }
    return m;
  };

  // A: first 4 KiB far into a cold file.
  await withMount('a', async (m) => {
    const file = path.join(m.mnt, 'big.bin');
    const { ms, bytes } = await timed(m, 'first 4 KiB', firstRead(file, env.firstOffset));
    r.first4k = ms;
    if (sys !== 'ceiling') notes.fetched4k[sys].push(await fetched(m));
    if (!bytes.equals(await readRange(data.big, env.firstOffset, FIRST_READ)))
      throw new Error(`${sys}: wrong data in the 4 KiB at ${env.firstOffset}`);
    if (sys !== 'ceiling') {
      await sleep(SETTLE_MS);
      notes.fetched4kSettled[sys].push(await fetched(m));
    }
  });

  // B: ls -l of the small-file directory, fresh mount, then again.
  const mB = await withMount('b', async (m) => {
    const dir = path.join(m.mnt, 'small');
    r.lsFirst = await timed(m, 'ls -l (first)', timeLs(dir));
    r.lsRepeat = await timed(m, 'ls -l (repeat)', timeLs(dir));
    const names = (await fsp.readdir(dir)).sort();
    if (names.length !== data.smallNames.length || names.some((n, i) => n !== data.smallNames[i]))
      throw new Error(`${sys}: small/ lists ${names.length} names, expected ${data.smallNames.length}`);
  });
  if (sys === 'ceiling') notes.lsOps.push(ceilingStats(mB)?.ops);

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
      { xattr: false },
    );
    notes.lsOpsNoXattr.push(ceilingStats(mD)?.ops);
  }
  return r;
}

// ---- main ---------------------------------------------------------------------------------------------------

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-drive-bench-'));
let cleaning = null;

async function cleanup() {
  cleaning ??= (async () => {
    for (const m of [...mounts]) await stopMount(m).catch((err) => log(`cleanup: ${err.message}`));
    for (const c of [...children]) await killChild(c).catch(() => {});
    // Anything still mounted below the work dir (a mount whose process was lost) goes too.
    for (const p of mountedPaths().filter((p) => p.startsWith(`${work}/`))) await unmount(p);
    const left = mountedPaths().filter((p) => p.startsWith(`${work}/`));
    if (left.length) {
      // Never rm -r into a live mount: that would delete through it.
      log(`cleanup: still mounted, NOT removing ${work}: ${left.join(', ')}`);
      return false;
    }
    fs.rmSync(work, { recursive: true, force: true });
    return true;
  })();
  return cleaning;
}
for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
]) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    cleanup().finally(() => process.exit(code));
  });
}

const ROWS = [
  ['cold', `cold sequential read, ${fmtBytes(opts.size)}, 1 MiB reads (fresh mount, empty cache)`, 'MB/s', 0],
  ['warm', 'warm re-read, same mount', 'MB/s', 0],
  ['recached', 're-read after `echo 1 > /proc/sys/vm/drop_caches` (disk cache, no page cache)', 'MB/s', 0],
  ['first4k', null, 'ms', 2], // label set once the offset is known
  ['lsFirst', `\`ls -l\` of ${opts.files.toLocaleString('en-US')} files, first (fresh mount)`, 'ms', 1],
  ['lsRepeat', `\`ls -l\` of ${opts.files.toLocaleString('en-US')} files, repeat`, 'ms', 1],
  ['lsFirstNoXattr', '`ls -l` first, ceiling without getxattr/listxattr handlers', 'ms', 1],
  ['lsRepeatNoXattr', '`ls -l` repeat, ceiling without getxattr/listxattr handlers', 'ms', 1],
  ['localRead', 'machine limit: local read of the source file (page cache), 1 MiB reads', 'MB/s', 0],
  ['directRead', 'machine limit: local disk read of the source file, O_DIRECT (dd bs=1M)', 'MB/s', 0],
];

let exitCode = 0;
try {
  fs.mkdirSync(path.join(work, 'mnt'));
  fs.mkdirSync(path.join(work, 'state'));
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  log(`work dir ${work}; making ${fmtBytes(opts.size)} of random data and ${opts.files} small files…`);
  const data = await makeData(src);
  const firstOffset = Math.min(FIRST_READ_OFFSET, Math.floor((opts.size - FIRST_READ) / 4096) * 4096);
  const offsetLabel = firstOffset % MiB === 0 ? fmtBytes(firstOffset) : `${firstOffset / KiB} KiB`;
  ROWS.find((r) => r[0] === 'first4k')[1] =
    `first ${FIRST_READ / KiB} KiB at offset ${offsetLabel} of a cold file (open + read)`;
  const env = { work, src, data, firstOffset };

  const ctx = {}; // per system: server context, or { error }
  const results = Object.fromEntries(SYSTEMS.map((s) => [s, []]));
  const errors = Object.fromEntries(SYSTEMS.map((s) => [s, []]));
  if (want('rclone')) {
    try {
      ctx.rclone = await setupRclone(work, src);
      log(`rclone: ${ctx.rclone.version}, serve webdav at ${ctx.rclone.url}`);
    } catch (err) {
      ctx.rclone = { error: `rclone setup failed: ${err.message}` };
    }
  }
  if (want('loft')) {
    try {
      ctx.loft = await setupLoft(work, data);
      log(`loft: server at ${ctx.loft.url}`);
    } catch (err) {
      ctx.loft = { error: `loft setup failed: ${err.message}` };
    }
  }
  if (want('ceiling')) ctx.ceiling = {};
  const machine = [];

  for (let run = 1; run <= opts.runs; run++) {
    machine.push({
      localRead: await seqRead(data.big, opts.size),
      directRead: await directRead(data.big, opts.size).catch(() => NaN),
    });
    for (const sys of SYSTEMS) {
      if (!want(sys) || ctx[sys].error) continue;
      log(`run ${run}/${opts.runs}: ${sys}…`);
      try {
        const r = await measureSystem(sys, ctx[sys], env, run);
        results[sys].push(r);
        log(
          `run ${run}/${opts.runs}: ${sys}: cold ${r.cold.toFixed(0)} MB/s, warm ${r.warm.toFixed(0)} MB/s, ` +
            `recached ${r.recached?.toFixed(0) ?? 'n/a'} MB/s, ` +
            `4 KiB ${r.first4k.toFixed(1)} ms, ls ${r.lsFirst.toFixed(0)}/${r.lsRepeat.toFixed(0)} ms`,
        );
      } catch (err) {
        log(`run ${run}/${opts.runs}: ${sys} failed: ${err.message}`);
        if (err.mountFailed) ctx[sys].error = `${sys} mount failed: ${err.message}`;
        else errors[sys].push(`run ${run}: ${err.message}`);
      }
    }
  }

  // ---- report ----
  const fmt = (v, d) =>
    Number.isFinite(v)
      ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
      : 'n/a';
  const valuesOf = (sys, key) =>
    sys === 'machine'
      ? machine.map((m) => m[key]).filter(Number.isFinite)
      : results[sys].map((r) => r[key]).filter(Number.isFinite);
  const cell = (sys, key, d) => {
    if (!want(sys)) return '—';
    if (ctx[sys]?.error) return `n/a (${ctx[sys].error})`;
    const vals = valuesOf(sys, key);
    return vals.length ? fmt(median(vals), d) : 'n/a';
  };
  const cpus = os.cpus();
  const rcloneVersion = ctx.rclone?.version ?? 'rclone';
  console.log(
    `Loft drive benchmark: ${opts.runs} run(s); ${fmtBytes(opts.size)} random file, ` +
      `${opts.files.toLocaleString('en-US')} × ${SMALL_FILE_SIZE} B files; median across runs (MB = 10^6 bytes)\n`,
  );
  console.log(
    '| metric | unit | Loft | rclone | ceiling | Loft/rclone | all runs: Loft · rclone · ceiling |',
  );
  console.log('|---|---|---:|---:|---:|---:|---|');
  for (const [key, label, unit, d] of ROWS) {
    const ceilingOnly = key.endsWith('NoXattr');
    const machineRow = key === 'localRead' || key === 'directRead';
    const sysCells = machineRow || ceilingOnly ? ['—', '—'] : [cell('loft', key, d), cell('rclone', key, d)];
    const third = machineRow ? fmt(median(valuesOf('machine', key)), d) : cell('ceiling', key, d);
    let ratio = '—';
    if (!machineRow && !ceilingOnly) {
      const l = ctx.loft && !ctx.loft.error ? valuesOf('loft', key) : [];
      const rc = ctx.rclone && !ctx.rclone.error ? valuesOf('rclone', key) : [];
      ratio = l.length && rc.length ? `${fmt(median(l) / median(rc), 2)}×` : 'n/a';
    }
    const runs = machineRow
      ? `machine: ${valuesOf('machine', key)
          .map((v) => fmt(v, d))
          .join(', ')}`
      : (ceilingOnly ? ['ceiling'] : SYSTEMS)
          .filter((s) => want(s) && !ctx[s]?.error)
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

  const med = (xs) => (xs.length ? fmtBytes(median(xs)) : 'n/a');
  const lines = [];
  for (const sys of ['loft', 'rclone']) {
    if (!want(sys) || ctx[sys]?.error) continue;
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
    const ops = (o) =>
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
    `rclone: ${rcloneVersion}: \`rclone mount :webdav,url=…: --cache-dir <fresh> ${RCLONE_MOUNT_FLAGS.join(' ')}\` on \`rclone serve webdav --read-only\` at 127.0.0.1`,
  );
  lines.push(
    `ceiling: scripts/bench/passthrough-fs.mjs (fuse-native, -o ${FUSE_OPTS.join(',')}, getxattr/listxattr answered like Loft must), reading the source file`,
  );
  lines.push(
    `machine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores, ${fmtBytes(os.totalmem())} RAM (${os.platform()} ${os.release()})`,
  );
  console.log(`\n${lines.map((l) => `- ${l}`).join('\n')}`);
} catch (err) {
  console.error(`drive bench: ${err.stack ?? err.message}`);
  exitCode = 1;
} finally {
  if (!(await cleanup())) exitCode = 1;
  const left = mountedPaths().filter((p) => p.startsWith(work));
  if (left.length) {
    console.error(`drive bench: mounts left behind: ${left.join(', ')}`);
    exitCode = 1;
  } else log('all mounts gone (checked /proc/mounts), child processes stopped');
}
process.exit(exitCode);
