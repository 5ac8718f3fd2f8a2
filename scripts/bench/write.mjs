#!/usr/bin/env node
// The write benchmark: `loft mount` against `rclone mount --vfs-cache-mode writes` and against the
// ceiling of a writable FUSE filesystem on fuse-native, on the same data, in the same run.
// Usage: node scripts/bench/write.mjs [--runs 3] [--size 1G] [--files 20] [--only loft,rclone,ceiling]
//
// Data (made once per invocation, in memory; big.bin also on local disk for the chunk row):
// SIZE random bytes (big), 64 MiB random bytes (p64), a 1 MiB random patch, FILES × 1 MiB random.
// Every run starts each system from nothing: a fresh server data dir / backend dir, fresh state.
//   Loft:    `loft serve --data <fresh>` on 127.0.0.1, `loft user add`, then
//            `loft mount --state <fresh> --cache-size 2G`.
//   rclone:  `rclone serve webdav <fresh backend dir>` on 127.0.0.1, then `rclone mount :webdav,…:
//            --cache-dir <fresh>` with the flags in RCLONE_MOUNT_FLAGS (below, with reasons).
//   ceiling: this file run as `--ceiling-fs BACKING MNT OPTS`: the smallest writable fuse-native
//            filesystem (passthrough to a local directory; writes are a pwrite on the JS thread),
//            with the FUSE options Loft mounts with (big_writes, auto_cache, 10 s attr/entry).
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
//     3. p64.bin written and committed; then rewritten from scratch (O_TRUNC) as 1 byte + the old
//        content: bytes uploaded, time from close to committed.
//     4. FILES new 1 MiB files, one after another: time from close to committed, each.
//   mount 2 (fresh state: big.bin is cloud-only on this device):
//     2. 1 MiB rewritten in place at the middle of big.bin (open O_RDWR, one write, close): bytes
//        uploaded (and downloaded), time from close to committed.
//   Loft, mount 3 (fresh state): the server's content is checked (patch, neighbours, p64.bin, a
//   new file); rclone: the same checks on its backend directory.
//   ceiling: 1. only (it has no remote).
//   machine (once per run): local-disk write of the same bytes (+ fsync); chunk + hash of big.bin
//   with Loft's chunkFile (dist/src/client/chunk/chunk-file.js) and SHA-256 alone.
// MB = 10^6 bytes, MiB = 2^20. The table has the median of the runs; all runs follow it.
// Every mount is unmounted (SIGTERM to its process, then fusermount -u, then -uz) and every child
// killed on exit, error or Ctrl-C; /proc/mounts is checked at the end.
// Environment (for developing the benchmark itself):
//   LOFT_BENCH_CEILING_WRITE=async  the ceiling writes with fs.write on the libuv pool (as Loft's
//                                   staging does) instead of fs.writeSync on the JS thread
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), '../..');
const LOFT_BIN = path.join(ROOT, 'bin', 'loft.js');
const CEILING_MODE = '--ceiling-fs';
const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const WRITE_BUF = MiB; // one write(2) of 1 MiB at a time, like `dd bs=1M`
const PREPEND_SIZE = 64 * MiB;
const PATCH_SIZE = MiB;
const NEW_FILE_SIZE = MiB;
const CACHE_SIZE = '2G'; // Loft --cache-size and rclone --vfs-cache-max-size: the same cap
const POLL_MS = 2; // commit-latency polling interval (control socket / rclone rc)
const COMMIT_TIMEOUT_MS = 600_000;
const MOUNT_READY_MS = 60_000;
const OP_TIMEOUT_MS = 600_000; // one measured file operation; past it the mount is torn down
const STOP_GRACE_MS = 15_000;
// Loft's libfuse options (src/client/fuse/fuse-mount.ts: big_writes appended to fuse-native's
// autoCache / attrTimeout / entryTimeout of 10 s). The ceiling mounts with exactly these.
const FUSE_OPTS = 'big_writes,auto_cache,attr_timeout=10,entry_timeout=10';
// rclone mount flags, one by one:
//   --vfs-cache-mode writes   the mode for writing through a mount: files opened for writing are
//                             buffered in a disk cache and uploaded after close (like Loft's
//                             staging + push loop); "full" behaves the same for writes
//   --vfs-write-back 0s       upload as soon as the file is closed (default 5s: a deliberate delay
//                             that would add 5 s to every close→committed time; Loft has none)
//   --vfs-cache-max-size 2G   the same cap as Loft's --cache-size 2G
//   --dir-cache-time 1h       as in drive.mjs
//   --rc --rc-no-auth         remote control on 127.0.0.1 (vfs/stats: the upload queue)
//   --config /dev/null        no config file (the remote is a connection string)
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
const SYSTEMS = ['loft', 'rclone', 'ceiling'];

const execFileP = promisify(execFile);
const log = (msg) => process.stderr.write(`write bench: ${msg}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const firstLine = (text) =>
  String(text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? '';
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

function fmtBytes(n) {
  if (!Number.isFinite(n)) return 'n/a';
  if (n >= GiB) return `${(n / GiB).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(2)} MiB`;
  if (n >= KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${n} B`;
}

/** PSI cpu "some" avg10 (%), NaN where /proc/pressure is missing. */
function cpuPressure() {
  try {
    const m = /^some avg10=([\d.]+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

const num = (v, d = 0) =>
  Number.isFinite(v)
    ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
    : 'n/a';

function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)([KMGT])?(?:i?B)?$/i.exec(s ?? '');
  if (!m) return NaN;
  const mult = { '': 1, K: KiB, M: MiB, G: GiB, T: 1024 * GiB }[(m[2] ?? '').toUpperCase()];
  return Math.round(Number(m[1]) * mult);
}

// =====================================================================================================
// The ceiling filesystem (child mode): a writable passthrough on fuse-native.
// =====================================================================================================

async function runCeilingFs([backing, mnt, optString]) {
  const require = createRequire(import.meta.url);
  const Fuse = require('../../native/fuse-native'); // Loft's fork (native/fuse-native/README.md)
  const fuseOpts = (optString ?? '').split(',').filter(Boolean);
  const abs = (p) => path.join(backing, p);
  const E = (err) => Fuse[err?.code] ?? Fuse.EIO;
  const done = (cb) => (err) => cb(err ? E(err) : 0);
  const ASYNC_WRITE = process.env.LOFT_BENCH_CEILING_WRITE === 'async';
  const counts = {};
  const writeLens = {};
  const count = (op) => (counts[op] = (counts[op] ?? 0) + 1);
  const toStat = (st) => ({
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    dev: st.dev,
    nlink: st.nlink,
    rdev: st.rdev,
    blksize: st.blksize,
    ino: st.ino,
    blocks: st.blocks,
    atime: st.atime,
    mtime: st.mtime,
    ctime: st.ctime,
  });
  const ops = {
    getattr(p, cb) {
      count('getattr');
      fs.lstat(abs(p), (err, st) => (err ? cb(E(err)) : cb(0, toStat(st))));
    },
    fgetattr(p, fd, cb) {
      count('fgetattr');
      fs.fstat(fd, (err, st) => (err ? cb(E(err)) : cb(0, toStat(st))));
    },
    readdir(p, cb) {
      count('readdir');
      fs.readdir(abs(p), (err, names) => (err ? cb(E(err)) : cb(0, names)));
    },
    open(p, flags, cb) {
      count('open');
      fs.open(abs(p), flags & ~fs.constants.O_CREAT, (err, fd) => (err ? cb(E(err)) : cb(0, fd)));
    },
    create(p, mode, cb) {
      count('create');
      const flags = fs.constants.O_CREAT | fs.constants.O_RDWR | fs.constants.O_TRUNC;
      fs.open(abs(p), flags, mode & 0o7777, (err, fd) => (err ? cb(E(err)) : cb(0, fd)));
    },
    read(p, fd, buf, len, pos, cb) {
      count('read');
      try {
        cb(fs.readSync(fd, buf, 0, len, pos));
      } catch (err) {
        cb(E(err));
      }
    },
    write(p, fd, buf, len, pos, cb) {
      count('write');
      writeLens[len] = (writeLens[len] ?? 0) + 1;
      if (ASYNC_WRITE) return fs.write(fd, buf, 0, len, pos, (err, n) => cb(err ? E(err) : n));
      try {
        cb(fs.writeSync(fd, buf, 0, len, pos));
      } catch (err) {
        cb(E(err));
      }
    },
    flush(p, fd, cb) {
      count('flush');
      cb(0);
    },
    fsync(p, datasync, fd, cb) {
      count('fsync');
      fs.fsync(fd, done(cb));
    },
    release(p, fd, cb) {
      count('release');
      fs.close(fd, () => cb(0));
    },
    truncate(p, size, cb) {
      count('truncate');
      fs.truncate(abs(p), size, done(cb));
    },
    ftruncate(p, fd, size, cb) {
      count('ftruncate');
      fs.ftruncate(fd, size, done(cb));
    },
    unlink(p, cb) {
      fs.unlink(abs(p), done(cb));
    },
    rename(from, to, cb) {
      fs.rename(abs(from), abs(to), done(cb));
    },
    mkdir(p, mode, cb) {
      fs.mkdir(abs(p), { mode }, done(cb));
    },
    rmdir(p, cb) {
      fs.rmdir(abs(p), done(cb));
    },
    chmod(p, mode, cb) {
      fs.chmod(abs(p), mode, done(cb));
    },
    utimens(p, atime, mtime, cb) {
      cb(0); // times are not part of this benchmark
    },
    // Answered as Loft must answer them (Loft serves user.loft.*): the kernel then keeps asking
    // for security.capability on writes, as it does with Loft.
    getxattr(p, name, position, cb) {
      count('getxattr');
      cb(0, name === 'user.loft.state' ? Buffer.from('cached') : null);
    },
    listxattr(p, cb) {
      count('listxattr');
      cb(0, ['user.loft.state']);
    },
    statfs(p, cb) {
      cb(0, {
        bsize: 4096,
        frsize: 4096,
        blocks: 1 << 28,
        bfree: 1 << 27,
        bavail: 1 << 27,
        files: 1e6,
        ffree: 1e6,
        favail: 1e6,
        fsid: 0,
        flag: 0,
        namemax: 255,
      });
    },
  };
  class RawOptionsFuse extends Fuse {
    _fuseOptions() {
      const base = super._fuseOptions();
      const all = [...(base ? base.slice(2).split(',') : []), ...fuseOpts];
      return all.length ? `-o${all.join(',')}` : '';
    }
  }
  const fuse = new RawOptionsFuse(mnt, ops, {
    fsname: 'loft-bench-ceiling-rw',
    force: false,
    mkdir: false,
    timeout: { default: 15_000, fsync: 300_000, write: 60_000, release: 60_000 },
  });
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    process.stderr.write(`ceiling stats ${JSON.stringify({ ops: counts, writeLens })}\n`);
    fuse.unmount((err) => {
      if (err) process.stderr.write(`ceiling: unmount: ${err.message}\n`);
      process.exit(err ? 1 : 0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  fuse.mount((err) => {
    if (err) {
      process.stderr.write(`ceiling: mount failed: ${err.message}\n`);
      process.exit(1);
    }
    process.stdout.write(`mounted ${mnt} (-o ${fuseOpts.join(',')})\n`);
  });
}

// =====================================================================================================
// The benchmark.
// =====================================================================================================

function parseArgs(argv) {
  const usage =
    'usage: node scripts/bench/write.mjs [--runs N] [--size SIZE] [--files N] [--only loft,rclone,ceiling]';
  const opts = { runs: 3, size: GiB, files: 20, only: [...SYSTEMS] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.split('=', 2);
    const key = flag.replace(/^--/, '');
    const value = inline ?? argv[++i];
    if (!flag.startsWith('--') || !(key in opts) || value === undefined)
      throw new Error(`${usage} (bad "${arg}")`);
    if (key === 'size') {
      opts.size = parseSize(value);
      if (!(opts.size >= 16 * MiB) || opts.size % MiB)
        throw new Error(`${usage} (size: a multiple of 1M, ≥ 16M)`);
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

/** Resolves with the promise's value, or runs onTimeout and rejects after ms. */
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

// ---- child processes and mounts (as in drive.mjs) ----------------------------------------------------

const children = new Set();

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

function mountedPaths() {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[1].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
}
const isMounted = (mnt) => mountedPaths().includes(mnt);

async function unmount(mnt) {
  for (const args of [['-u'], ['-uz']]) {
    if (!isMounted(mnt)) return true;
    await execFileP('fusermount', [...args, mnt]).catch(() => {});
  }
  if (isMounted(mnt)) await execFileP('umount', ['-l', mnt]).catch(() => {});
  return !isMounted(mnt);
}

const mounts = new Set();

async function stopMount(m) {
  if (!mounts.has(m)) return;
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
  m.agent?.destroy();
  if (!(await unmount(m.mnt))) throw new Error(`could not unmount ${m.mnt}`);
  mounts.delete(m);
}

async function abortMount(m) {
  if (alive(m.child)) m.child.proc.kill('SIGKILL');
  await unmount(m.mnt);
}

const succeeds = (cmd, args) =>
  execFileP(cmd, args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );

async function waitReady(m, check, describe) {
  const deadline = Date.now() + MOUNT_READY_MS;
  for (;;) {
    if (!alive(m.child)) {
      await m.child.closed;
      const line = firstLine(m.child.stderr) || `exited with ${m.child.exit} before it was ready`;
      throw Object.assign(new Error(line), { mountFailed: true });
    }
    if (await check()) return;
    if (Date.now() > deadline)
      throw Object.assign(new Error(`not ready after ${MOUNT_READY_MS / 1000} s (${await describe()})`), {
        mountFailed: true,
      });
    await sleep(50);
  }
}

async function waitForOutput(child, stream, re, what) {
  return withTimeout(
    20_000,
    what,
    (async () => {
      for (;;) {
        const m = re.exec(child[stream]);
        if (m) return m;
        if (!alive(child))
          throw new Error(`${child.name} exited (${child.exit}): ${firstLine(child.stderr)}`);
        await sleep(20);
      }
    })(),
  );
}

async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

// ---- byte-counting TCP proxy ----------------------------------------------------------------------------

const proxies = new Set();

/** 127.0.0.1:<port> → 127.0.0.1:targetPort; counts client→server (up) and server→client (down). */
async function startProxy(targetPort) {
  const p = { up: 0, down: 0, sockets: new Set() };
  p.server = net.createServer((c) => {
    const s = net.connect(targetPort, '127.0.0.1');
    c.setNoDelay(true);
    s.setNoDelay(true);
    p.sockets.add(c);
    p.sockets.add(s);
    c.on('data', (d) => (p.up += d.length));
    s.on('data', (d) => (p.down += d.length));
    c.pipe(s);
    s.pipe(c);
    const kill = () => {
      c.destroy();
      s.destroy();
    };
    c.on('error', kill);
    s.on('error', kill);
    c.on('close', () => (p.sockets.delete(c), s.destroy()));
    s.on('close', () => (p.sockets.delete(s), c.destroy()));
  });
  await new Promise((resolve) => p.server.listen(0, '127.0.0.1', resolve));
  p.port = p.server.address().port;
  p.close = async () => {
    for (const s of p.sockets) s.destroy();
    await new Promise((resolve) => p.server.close(resolve));
    proxies.delete(p);
  };
  proxies.add(p);
  return p;
}

// ---- small HTTP/JSON client (control socket, rclone rc) ---------------------------------------------------

function httpJson(options, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        if (res.statusCode !== 200)
          return reject(new Error(`${options.path} -> ${res.statusCode}: ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${options.path}: no answer in 10 s`)));
    req.end(body);
  });
}

/** Polls `done()` every POLL_MS until it is true; returns performance.now() of the first true. */
async function pollUntil(what, done, timeoutMs = COMMIT_TIMEOUT_MS) {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await done();
    if (r === true) return performance.now();
    if (typeof r === 'string') last = r;
    if (performance.now() > deadline)
      throw new Error(`${what}: not done after ${timeoutMs / 1000} s${last ? ` (${last})` : ''}`);
    await sleep(POLL_MS);
  }
}

// ---- file operations (what a user's program does) --------------------------------------------------------

/** open(O_CREAT|O_TRUNC), 1 MiB writes, fsync, close; timings. */
async function seqWrite(file, buf) {
  const t0 = performance.now();
  const fh = await fsp.open(file, 'w');
  let tWrite, tSync;
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
async function writeWhole(file, buf) {
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
async function writeInPlace(file, patch, offset) {
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

const sizeOf = (file) => {
  try {
    return fs.statSync(file).size;
  } catch {
    return -1;
  }
};
const rangeIs = async (file, offset, expected) => {
  try {
    return (await readRange(file, offset, expected.length)).equals(expected);
  } catch {
    return false;
  }
};

// ---- chunk accounting (the minimum a content-defined chunker must send) -------------------------------------

let chunkLib = null;
async function loadChunkLib() {
  const dist = path.join(ROOT, 'dist', 'src', 'client', 'chunk');
  if (!fs.existsSync(path.join(dist, 'chunk-file.js')))
    throw new Error('dist/ is missing (no dist/src/client/chunk/chunk-file.js); run npx tsc -p . first');
  const { chunkFile } = await import(path.join(dist, 'chunk-file.js'));
  const { StreamingChunker, DEFAULT_CHUNK_PARAMS } = await import(path.join(dist, 'streaming-chunker.js'));
  chunkLib = { chunkFile, StreamingChunker, DEFAULT_CHUNK_PARAMS };
}

function chunksOf(buf) {
  const c = new chunkLib.StreamingChunker(chunkLib.DEFAULT_CHUNK_PARAMS);
  return c
    .push(buf)
    .concat(c.end())
    .map((ch) => ({ hash: sha256(ch.data), size: ch.data.length }));
}

/** Chunks of `after` whose hash is not among the chunks of `before`: what must be uploaded. */
function freshChunks(before, after) {
  const known = new Set(chunksOf(before).map((c) => c.hash));
  const fresh = chunksOf(after).filter((c) => !known.has(c.hash));
  return { chunks: fresh.length, bytes: fresh.reduce((n, c) => n + c.size, 0) };
}

// ---- Loft -----------------------------------------------------------------------------------------------------

async function startLoftServer(dir) {
  const dataDir = path.join(dir, 'server-data');
  fs.mkdirSync(dataDir, { recursive: true });
  const server = startChild('loft serve', process.execPath, [
    LOFT_BIN,
    'serve',
    '--data',
    dataDir,
    '--listen',
    '127.0.0.1:0',
  ]);
  const [, url] = await waitForOutput(server, 'stdout', /listening on (http:\/\/\S+)/, 'loft serve start-up');
  const { stdout } = await execFileP(process.execPath, [LOFT_BIN, 'user', 'add', 'bench', '--data', dataDir]);
  const token = stdout.trim().split('\n').pop();
  const proxy = await startProxy(Number(new URL(url).port));
  return { server, url, token, proxy, proxyUrl: `http://127.0.0.1:${proxy.port}` };
}

async function mountLoft(srv, dir, label) {
  const mnt = path.join(dir, `mnt-${label}`);
  const state = path.join(dir, `state-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(state, { recursive: true });
  const args = [
    LOFT_BIN,
    'mount',
    mnt,
    '--server',
    srv.proxyUrl,
    '--state',
    state,
    '--cache-size',
    CACHE_SIZE,
  ];
  // The token through the environment: a command line is visible to every local user in ps.
  const env = { ...process.env, LOFT_TOKEN: srv.token };
  const m = {
    sys: 'loft',
    mnt,
    state,
    child: startChild(`loft mount ${label}`, process.execPath, args, { env }),
  };
  mounts.add(m);
  try {
    await waitReady(
      m,
      async () =>
        /mounted at /.test(m.child.stdout) &&
        fs.existsSync(path.join(state, 'mount.json')) &&
        (await succeeds('mountpoint', ['-q', mnt])),
      async () =>
        `mountpoint: ${isMounted(mnt) ? 'yes' : 'no'}; stderr: ${firstLine(m.child.stderr) || 'none'}`,
    );
    const { socket } = JSON.parse(fs.readFileSync(path.join(state, 'mount.json'), 'utf8'));
    m.socket = socket;
    m.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await pollUntil('loft first sync', async () => (await loftStatus(m)).synced !== false, MOUNT_READY_MS);
  } catch (err) {
    await stopMount(m).catch(() => {});
    throw err;
  }
  return m;
}

/** GET /status on the mount's control socket (what `loft status --json` prints). */
const loftStatus = (m) => httpJson({ socketPath: m.socket, path: '/status', method: 'GET', agent: m.agent });

/** Polls until nothing is pending; returns { at, status }. */
async function loftCommitted(m, what) {
  let status;
  const at = await pollUntil(`loft: ${what} committed`, async () => {
    status = await loftStatus(m);
    if (status.pending === 0 && status.uploading === 0) return true;
    return `pending ${status.pending}, uploading ${status.uploading}${status.pushError ? `, push error: ${status.pushError}` : ''}`;
  });
  return { at, status };
}

// ---- rclone ---------------------------------------------------------------------------------------------------

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

/** rclone mount (bazil fuse) runs `fusermount3`: a private PATH entry where it is libfuse2's fusermount. */
async function rcloneFuseBin(work) {
  const fuseBin = path.join(work, 'fusebin');
  if (!fs.existsSync(fuseBin)) {
    fs.mkdirSync(fuseBin);
    const { stdout } = await execFileP('sh', ['-c', 'command -v fusermount']);
    fs.symlinkSync(stdout.trim(), path.join(fuseBin, 'fusermount3'));
  }
  return fuseBin;
}

async function startRcloneServer(dir) {
  const backend = path.join(dir, 'backend');
  fs.mkdirSync(backend, { recursive: true });
  const server = startChild('rclone serve webdav', 'rclone', [
    'serve',
    'webdav',
    backend,
    '--addr',
    '127.0.0.1:0',
    '--config',
    '/dev/null',
  ]);
  const [, url] = await waitForOutput(
    server,
    'stderr',
    /WebDav Server started on (http:\/\/127\.0\.0\.1:\d+\/?)/,
    'rclone serve webdav start-up',
  );
  const proxy = await startProxy(Number(new URL(url).port));
  return { server, url, backend, proxy, proxyUrl: `http://127.0.0.1:${proxy.port}/` };
}

async function mountRclone(srv, dir, label, fuseBin) {
  const mnt = path.join(dir, `mnt-${label}`);
  const cacheDir = path.join(dir, `cache-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(cacheDir, { recursive: true });
  const rcPort = await freePort();
  const args = [
    'mount',
    `:webdav,url='${srv.proxyUrl}':`,
    mnt,
    '--config',
    '/dev/null',
    '--cache-dir',
    cacheDir,
    ...RCLONE_MOUNT_FLAGS,
    '--rc',
    '--rc-addr',
    `127.0.0.1:${rcPort}`,
    '--rc-no-auth',
  ];
  const env = { ...process.env, PATH: `${fuseBin}:${process.env.PATH}` };
  const m = {
    sys: 'rclone',
    mnt,
    state: cacheDir,
    rcPort,
    child: startChild(`rclone mount ${label}`, 'rclone', args, { env }),
  };
  m.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  mounts.add(m);
  try {
    await waitReady(
      m,
      async () =>
        (await succeeds('mountpoint', ['-q', mnt])) &&
        (await rcloneStats(m).then(
          () => true,
          () => false,
        )),
      async () =>
        `mountpoint: ${isMounted(mnt) ? 'yes' : 'no'}; rclone: ${firstLine(m.child.stderr) || 'no output'}`,
    );
  } catch (err) {
    await stopMount(m).catch(() => {});
    throw err;
  }
  return m;
}

const rcloneStats = (m) =>
  httpJson(
    {
      host: '127.0.0.1',
      port: m.rcPort,
      path: '/vfs/stats',
      method: 'POST',
      agent: m.agent,
      headers: { 'content-type': 'application/json' },
    },
    '{}',
  );

/** Polls until rclone has no upload queued or in progress and `landed()` (the backend has the bytes). */
async function rcloneCommitted(m, what, landed) {
  const at = await pollUntil(`rclone: ${what} committed`, async () => {
    const { diskCache: c } = await rcloneStats(m);
    const queue = (c?.uploadsInProgress ?? 0) + (c?.uploadsQueued ?? 0);
    if (queue > 0) return `uploads in progress ${c.uploadsInProgress}, queued ${c.uploadsQueued}`;
    if (!(await landed())) return 'upload queue empty but the backend does not have the new bytes yet';
    return true;
  });
  return { at };
}

// ---- one run of one system ------------------------------------------------------------------------------

/**
 * The steps shared by Loft and rclone. `sys` gives: mount(label), unmount(m), committed(m, what,
 * landed) → {at}, counters(m) → {uploaded, wireUp, wireDown, downloaded?}, verify(data).
 */
async function measureRemote(sys, data, run) {
  const r = { notes: {} };
  const timed = (m, what, promise) =>
    withTimeout(OP_TIMEOUT_MS, `${sys.name}: ${what}`, promise, () => abortMount(m));
  const delta = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - a[k]]));

  // ---- mount 1 ----
  let m = await sys.mount('m1');
  try {
    const big = path.join(m.mnt, 'big.bin');
    let c0 = await sys.counters(m);
    const seq = await timed(m, 'sequential write', seqWrite(big, data.big));
    r.seq = seq.mbps;
    r.notes.seq = seq;
    const done1 = await sys.committed(m, 'big.bin', sys.landed.whole('big.bin', data.big));
    r.bigCommitS = (done1.at - seq.closedAt) / 1000;
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
    r.prependS = (done3.at - closedAt) / 1000;
    r.prependUp = delta(c0, await sys.counters(m));
    r.prepend = r.prependUp.uploaded;
    log(
      `run ${run}: ${sys.name}: prepend: ${fmtBytes(r.prepend)} uploaded, committed ${(r.prependS * 1000).toFixed(0)} ms after close`,
    );

    // 4. new 1 MiB files
    const lat = [];
    const ups = [];
    for (let i = 0; i < data.small.length; i++) {
      const name = `new-${String(i).padStart(2, '0')}.bin`;
      const before = await sys.counters(m);
      const closed = await timed(m, `write ${name}`, writeWhole(path.join(m.mnt, name), data.small[i]));
      const done = await sys.committed(m, name, sys.landed.whole(name, data.small[i]));
      lat.push(done.at - closed);
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
    r.rewriteS = (done.at - w.closedAt) / 1000;
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

async function measureLoft(data, work, run) {
  const dir = path.join(work, `loft-r${run}`);
  fs.mkdirSync(dir);
  const srv = await startLoftServer(dir);
  try {
    const sys = {
      name: 'loft',
      mount: (label) => mountLoft(srv, dir, label),
      unmount: async (m) => {
        await stopMount(m);
        fs.rmSync(m.state, { recursive: true, force: true });
      },
      committed: async (m, what) => loftCommitted(m, what),
      counters: async (m) => {
        const s = await loftStatus(m);
        return {
          uploaded: s.uploadedBytes,
          downloaded: s.downloadedBytes,
          wireUp: srv.proxy.up,
          wireDown: srv.proxy.down,
        };
      },
      landed: { whole: () => null, range: () => null }, // Loft's own status says when it is committed
      verify: async (d) => {
        // A fresh mount reads what the server has.
        const m = await mountLoft(srv, dir, 'm3');
        try {
          await verifyTree(m.mnt, d, 'loft (fresh mount, from the server)');
        } finally {
          await sys.unmount(m);
        }
      },
    };
    return await measureRemote(sys, data, run);
  } finally {
    await srv.proxy.close();
    await killChild(srv.server);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function measureRclone(data, work, run, fuseBin) {
  const dir = path.join(work, `rclone-r${run}`);
  fs.mkdirSync(dir);
  const srv = await startRcloneServer(dir);
  const be = (name) => path.join(srv.backend, name);
  try {
    const sys = {
      name: 'rclone',
      mount: (label) => mountRclone(srv, dir, label, fuseBin),
      unmount: async (m) => {
        await stopMount(m);
        fs.rmSync(m.state, { recursive: true, force: true });
      },
      committed: (m, what, landed) => rcloneCommitted(m, what, landed),
      counters: async () => ({ uploaded: srv.proxy.up, wireUp: srv.proxy.up, wireDown: srv.proxy.down }),
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
    return await measureRemote(sys, data, run);
  } finally {
    await srv.proxy.close();
    await killChild(srv.server);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** After all steps: big.bin has the patch and intact neighbours, p64.bin the prepended content, new-00 its bytes. */
async function verifyTree(root, d, where) {
  const fail = (what) => {
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
  const got = await readRange(p64, 0, d.p64pre.length);
  if (!got.equals(d.p64pre)) fail('p64.bin: wrong content after the prepend');
  if (!(await rangeIs(path.join(root, 'new-00.bin'), 0, d.small[0]))) fail('new-00.bin: wrong content');
}

async function measureCeiling(data, work, run) {
  const dir = path.join(work, `ceiling-r${run}`);
  const backing = path.join(dir, 'backing');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(backing, { recursive: true });
  fs.mkdirSync(mnt, { recursive: true });
  const m = {
    sys: 'ceiling',
    mnt,
    child: startChild('ceiling fs', process.execPath, [SELF, CEILING_MODE, backing, mnt, FUSE_OPTS]),
  };
  mounts.add(m);
  const r = { notes: {} };
  try {
    await waitReady(
      m,
      async () => /^mounted /m.test(m.child.stdout) && (await succeeds('mountpoint', ['-q', mnt])),
      async () =>
        `mountpoint: ${isMounted(mnt) ? 'yes' : 'no'}; stderr: ${firstLine(m.child.stderr) || 'none'}`,
    );
    const seq = await withTimeout(
      OP_TIMEOUT_MS,
      'ceiling: sequential write',
      seqWrite(path.join(mnt, 'big.bin'), data.big),
      () => abortMount(m),
    );
    r.seq = seq.mbps;
    r.notes.seq = seq;
    const file = path.join(backing, 'big.bin');
    if (
      sizeOf(file) !== data.big.length ||
      !(await rangeIs(file, data.patchOffset, data.big.subarray(data.patchOffset, data.patchOffset + MiB)))
    )
      throw new Error('ceiling: big.bin in the backing directory is wrong');
    log(`run ${run}: ceiling: sequential write ${seq.mbps.toFixed(0)} MB/s`);
  } finally {
    await stopMount(m);
    const stats = /^ceiling stats (.*)$/m.exec(m.child.stderr);
    if (stats) r.notes.ops = JSON.parse(stats[1]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return r;
}

/** The machine: local-disk write of the same bytes, chunk + hash with Loft's chunkFile, SHA-256 alone. */
async function measureMachine(data, work) {
  const file = path.join(work, 'local-write.bin');
  const seq = await seqWrite(file, data.big);
  fs.rmSync(file, { force: true });
  let t0 = performance.now();
  const chunked = await chunkLib.chunkFile(data.bigFile);
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

async function runBench() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  const want = (s) => opts.only.includes(s);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-write-bench-'));
  let cleaning = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const m of [...mounts]) await stopMount(m).catch((err) => log(`cleanup: ${err.message}`));
      for (const c of [...children]) await killChild(c).catch(() => {});
      for (const p of [...proxies]) await p.close().catch(() => {});
      for (const p of mountedPaths().filter((p) => p.startsWith(`${work}/`))) await unmount(p);
      const left = mountedPaths().filter((p) => p.startsWith(`${work}/`));
      if (left.length) {
        log(`cleanup: still mounted, NOT removing ${work}: ${left.join(', ')}`);
        return false;
      }
      fs.rmSync(work, { recursive: true, force: true });
      return true;
    })());
  for (const [sig, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ])
    process.once(sig, () => {
      log(`${sig}: cleaning up`);
      cleanup().finally(() => process.exit(code));
    });

  let exitCode = 0;
  try {
    if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js')))
      throw new Error('dist/ is missing (no dist/src/cli/main.js); run npx tsc -p . first');
    await loadChunkLib();

    log(`work dir ${work}; making ${fmtBytes(opts.size)} + 64 MiB + ${opts.files} MiB of random data…`);
    const big = Buffer.allocUnsafe(opts.size);
    for (let off = 0; off < big.length; off += 256 * MiB)
      randomFillSync(big, off, Math.min(256 * MiB, big.length - off));
    const p64 = randomBytes(PREPEND_SIZE);
    const p64pre = Buffer.concat([Buffer.from([0x4c]), p64]);
    const patch = randomBytes(PATCH_SIZE);
    const patchOffset = Math.floor(opts.size / 2 / MiB) * MiB; // 512 MiB of 1 GiB
    const small = Array.from({ length: opts.files }, () => randomBytes(NEW_FILE_SIZE));
    const bigFile = path.join(work, 'big.bin');
    fs.writeFileSync(bigFile, big);
    const data = { big, bigFile, p64, p64pre, patch, patchOffset, small };
    await chunkLib.chunkFile(bigFile); // loads and grows the chunker's wasm memory outside the timings
    // The least a 1 MiB-average FastCDC can send for each edit (a window around the rewrite is
    // enough: chunk boundaries re-synchronise within a chunk or two on both sides).
    const win0 = Math.max(0, patchOffset - 32 * MiB);
    const win1 = Math.min(opts.size, patchOffset + PATCH_SIZE + 32 * MiB);
    const oldWin = big.subarray(win0, win1);
    const newWin = Buffer.from(oldWin);
    patch.copy(newWin, patchOffset - win0);
    const minimum = { rewrite: freshChunks(oldWin, newWin), prepend: freshChunks(p64, p64pre) };
    log(
      `least FastCDC upload: rewrite ${minimum.rewrite.chunks} chunks (${fmtBytes(minimum.rewrite.bytes)}), ` +
        `prepend ${minimum.prepend.chunks} chunks (${fmtBytes(minimum.prepend.bytes)})`,
    );

    const ctx = {};
    if (want('rclone')) {
      try {
        await ensureRclone();
        const { stdout } = await execFileP('rclone', ['version']);
        ctx.rclone = { version: firstLine(stdout), fuseBin: await rcloneFuseBin(work) };
      } catch (err) {
        ctx.rclone = { error: `rclone setup failed: ${err.message}` };
      }
    }
    if (want('loft')) ctx.loft = {};
    if (want('ceiling')) ctx.ceiling = {};
    const results = Object.fromEntries(SYSTEMS.map((s) => [s, []]));
    const errors = Object.fromEntries(SYSTEMS.map((s) => [s, []]));
    const machine = [];

    const pressure = []; // other processes' CPU pressure before each run (none of ours is running)
    for (let run = 1; run <= opts.runs; run++) {
      pressure.push(cpuPressure());
      log(`run ${run}/${opts.runs}: machine limits (CPU pressure before the run: ${num(pressure.at(-1))}%)…`);
      machine.push(await measureMachine(data, work));
      const mc = machine[machine.length - 1];
      log(
        `run ${run}: machine: local write ${mc.localWrite.toFixed(0)} MB/s, chunkFile ${mc.chunk.toFixed(0)} MB/s, SHA-256 ${mc.sha.toFixed(0)} MB/s`,
      );
      for (const s of SYSTEMS) {
        if (!want(s) || ctx[s].error) continue;
        log(`run ${run}/${opts.runs}: ${s}…`);
        try {
          const r =
            s === 'loft'
              ? await measureLoft(data, work, run)
              : s === 'rclone'
                ? await measureRclone(data, work, run, ctx.rclone.fuseBin)
                : await measureCeiling(data, work, run);
          results[s].push(r);
        } catch (err) {
          log(`run ${run}/${opts.runs}: ${s} failed: ${err.stack ?? err.message}`);
          // Leave nothing of a failed run mounted or running before the next system starts.
          for (const m of [...mounts]) await stopMount(m).catch(() => {});
          if (err.mountFailed) ctx[s].error = `${s} mount failed: ${err.message}`;
          else errors[s].push(`run ${run}: ${err.message}`);
        }
      }
    }

    // ---- report ----
    const vals = (s, get) => (s === 'machine' ? machine : results[s]).map(get).filter(Number.isFinite);
    const med = (s, get) => median(vals(s, get));
    const cellOf = (s, get, fmt) => {
      if (!want(s)) return '—';
      if (ctx[s]?.error) return `n/a (${ctx[s].error})`;
      const v = med(s, get);
      return Number.isFinite(v) ? fmt(v) : 'n/a';
    };
    const chunksNote = (bytes) => `${fmtBytes(bytes)} (≈${num(bytes / MiB, 1)} chunks of 1 MiB avg)`;
    const ROWS = [
      {
        label: `1. sequential write, ${fmtBytes(opts.size)}, 1 MiB writes + fsync, open → close (MB/s)`,
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
        label: `2. 1 MiB rewritten at ${fmtBytes(patchOffset)} of a committed cloud-only ${fmtBytes(opts.size)} file: bytes uploaded`,
        get: (r) => r.rewrite,
        fmt: (v) => fmtBytes(v),
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
        label: '3. 1 byte prepended to a committed 64 MiB file (rewritten from scratch): bytes uploaded',
        get: (r) => r.prepend,
        fmt: (v) => fmtBytes(v),
        loftFmt: chunksNote,
        ceiling: `— (least possible: ${fmtBytes(minimum.prepend.bytes)}, ${minimum.prepend.chunks} chunks)`,
        bar: '≤ 8 MiB (≤ 2 chunks)',
        met: (v) => v <= 8 * MiB,
      },
      {
        label: `4. new 1 MiB file: close → committed, median of ${opts.files} files (ms)`,
        get: (r) => r.newFileMs,
        fmt: (v) => num(v, 1),
        ceiling: '—',
        bar: '≤ 100 ms',
        met: (v) => v <= 100,
      },
      {
        label: `5. chunk + hash, ${fmtBytes(opts.size)} file in page cache (MB/s; ceiling: SHA-256 alone)`,
        machine: true,
        get: (m) => m.chunk,
        fmt: (v) => num(v),
        ceiling: num(med('machine', (m) => m.sha)),
        bar: '≥ 700 MB/s',
        met: (v) => v >= 700,
      },
      {
        label: `machine: local-disk write of the same ${fmtBytes(opts.size)}, 1 MiB writes + fsync (MB/s)`,
        machineOnly: true,
        ceiling: num(med('machine', (m) => m.localWrite)),
        bar: '—',
      },
    ];
    console.log(
      `Loft write benchmark: ${opts.runs} run(s); median across runs (MB = 10^6 bytes, MiB = 2^20)\n`,
    );
    console.log('| metric | Loft | rclone | ceiling | bar | met? |');
    console.log('|---|---:|---:|---:|---|---|');
    for (const row of ROWS) {
      if (row.machineOnly) {
        console.log(`| ${row.label} | — | — | ${row.ceiling} | ${row.bar} | — |`);
        continue;
      }
      const loftV = row.machine
        ? med('machine', row.get)
        : want('loft') && !ctx.loft?.error
          ? med('loft', row.get)
          : NaN;
      const loftCell = row.machine ? row.fmt(loftV) : cellOf('loft', row.get, row.loftFmt ?? row.fmt);
      const rcloneCell = row.machine ? '— (no chunking)' : cellOf('rclone', row.get, row.fmt);
      const met = Number.isFinite(loftV) ? (row.met(loftV) ? 'met' : '**not met**') : 'n/a';
      console.log(`| ${row.label} | ${loftCell} | ${rcloneCell} | ${row.ceiling} | ${row.bar} | ${met} |`);
    }

    // ---- details: every run, and what the medians hide ----
    const lines = [];
    const runsOf = (s, get, fmt) => vals(s, get).map(fmt).join(', ') || 'n/a';
    const live = (s) => want(s) && !ctx[s]?.error && results[s].length;
    for (const [name, get, fmt] of [
      ['sequential write MB/s', (r) => r.seq, (v) => num(v)],
      ['rewrite bytes uploaded', (r) => r.rewrite, fmtBytes],
      ['rewrite close → committed s', (r) => r.rewriteS, (v) => num(v, 3)],
      ['prepend bytes uploaded', (r) => r.prepend, fmtBytes],
      ['new file close → committed ms (median)', (r) => r.newFileMs, (v) => num(v, 1)],
    ]) {
      const parts = SYSTEMS.filter((s) => live(s) && vals(s, get).length).map(
        (s) => `${s}: ${runsOf(s, get, fmt)}`,
      );
      if (parts.length) lines.push(`all runs, ${name}: ${parts.join(' · ')}`);
    }
    lines.push(
      `all runs, chunk + hash MB/s: chunkFile ${runsOf(
        'machine',
        (m) => m.chunk,
        (v) => num(v),
      )} · SHA-256 ${runsOf(
        'machine',
        (m) => m.sha,
        (v) => num(v),
      )}; local write MB/s ${runsOf(
        'machine',
        (m) => m.localWrite,
        (v) => num(v),
      )}`,
    );
    for (const s of ['loft', 'rclone', 'ceiling']) {
      if (!live(s)) continue;
      const n = (get) => median(results[s].map(get).filter(Number.isFinite));
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
            `ceiling FUSE ops for the ${fmtBytes(opts.size)} write (run 1): ${Object.entries(ops.ops)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')}; write sizes: ${Object.entries(ops.writeLens)
              .map(([k, v]) => `${fmtBytes(Number(k))} × ${v}`)
              .join(', ')}`,
          );
        continue;
      }
      const allLat = results[s].flatMap((r) => r.notes.newFileMs);
      const sorted = [...allLat].sort((a, b) => a - b);
      const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
      lines.push(
        `${s}: ${fmtBytes(opts.size)} file committed ${num(
          n((r) => r.bigCommitS),
          1,
        )} s after close ` +
          `(${fmtBytes(n((r) => r.bigUp.uploaded))} uploaded${s === 'loft' ? ` per uploadedBytes, ${fmtBytes(n((r) => r.bigUp.wireUp))} on the wire` : ' on the wire'}); ` +
          `new 1 MiB files, all ${allLat.length}: p50 ${num(pct(50), 1)} ms, p90 ${num(pct(90), 1)} ms, max ${num(sorted[sorted.length - 1], 1)} ms, ` +
          `${fmtBytes(n((r) => r.newFileUp))} uploaded per file`,
      );
      lines.push(
        `${s}: rewrite: open → write → close ${num(
          n((r) => r.notes.rewriteOpenCloseMs),
          1,
        )} ms; ` +
          (s === 'loft'
            ? `uploadedBytes ${fmtBytes(n((r) => r.rewriteUp.uploaded))}, downloadedBytes ${fmtBytes(n((r) => r.rewriteUp.downloaded))}, wire up ${fmtBytes(n((r) => r.rewriteUp.wireUp))} / down ${fmtBytes(n((r) => r.rewriteUp.wireDown))}`
            : `wire up ${fmtBytes(n((r) => r.rewriteUp.wireUp))} / down ${fmtBytes(n((r) => r.rewriteUp.wireDown))} (it fetches and re-sends the whole file)`) +
          `; prepend: committed ${num(n((r) => r.prependS * 1000))} ms after close, wire up ${fmtBytes(n((r) => r.prependUp.wireUp))}`,
      );
    }
    for (const s of SYSTEMS)
      if (errors[s].length)
        lines.push(`${s}: failed run(s), left out of the medians: ${errors[s].join('; ')}`);
    lines.push(
      `least possible upload (the new FastCDC chunks, 256 KiB / 1 MiB / 4 MiB, not among the old ones): rewrite ${minimum.rewrite.chunks} chunks = ${fmtBytes(minimum.rewrite.bytes)}; prepend ${minimum.prepend.chunks} chunks = ${fmtBytes(minimum.prepend.bytes)}`,
    );
    lines.push(
      `Loft: \`loft mount --state <fresh> --cache-size ${CACHE_SIZE}\` on \`loft serve --data <fresh>\` at 127.0.0.1 (through a counting proxy); bytes uploaded = uploadedBytes of the control socket's /status; committed = pending 0 and uploading 0, polled every ${POLL_MS} ms`,
    );
    if (ctx.rclone && !ctx.rclone.error)
      lines.push(
        `rclone: ${ctx.rclone.version}: \`rclone mount :webdav,url=…: --cache-dir <fresh> ${RCLONE_MOUNT_FLAGS.join(' ')} --rc\` on \`rclone serve webdav <fresh dir>\` at 127.0.0.1; bytes uploaded = bytes it sent to the webdav server (HTTP headers included); committed = vfs/stats shows no upload queued or in progress and the backend file has the new bytes, polled every ${POLL_MS} ms`,
      );
    lines.push(
      `ceiling: this script's --ceiling-fs (fuse-native passthrough to a local directory, pwrite on the JS thread, getxattr answered like Loft), -o ${FUSE_OPTS}; it has no remote, so rows 2-4 have none`,
    );
    lines.push(
      `CPU pressure from other processes before each run (PSI cpu "some" avg10, % of time some task waited for a CPU): ${pressure.map((v) => num(v)).join(', ')}; the machine is shared, so numbers vary`,
    );
    const cpus = os.cpus();
    lines.push(
      `machine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores, ${fmtBytes(os.totalmem())} RAM (${os.platform()} ${os.release()})`,
    );
    console.log(`\n${lines.map((l) => `- ${l}`).join('\n')}`);
    if (SYSTEMS.some((s) => errors[s].length || ctx[s]?.error)) exitCode = 1;
  } catch (err) {
    console.error(`write bench: ${err.stack ?? err.message}`);
    exitCode = 1;
  } finally {
    if (!(await cleanup())) exitCode = 1;
    const left = mountedPaths().filter((p) => p.startsWith(work));
    if (left.length) {
      console.error(`write bench: mounts left behind: ${left.join(', ')}`);
      exitCode = 1;
    } else log('all mounts gone (checked /proc/mounts), child processes stopped');
  }
  process.exit(exitCode);
}

if (process.argv[2] === CEILING_MODE) await runCeilingFs(process.argv.slice(3));
else await runBench();
