#!/usr/bin/env node
// The propagation benchmark (issue 5): a change made on device A through its mount, how long until
// it is committed on the server and visible through device B's mount; Loft against two rclone
// mounts of one `rclone serve webdav`, and against the floor of Loft's long-poll wake-up alone.
// Usage: node scripts/bench/sync.mjs [--runs 3] [--changes 100] [--only loft,rclone] [--servers 1]
//        [--shared 1]
//
// --shared 1 (issue 13 item 1): B is another user, and the changes happen in a folder A shares
// with B (`loft share /shared --with bench2`), so every change crosses users through a shared
// namespace. B's "mirror has it" time is not measured then (B's cursor is its own view's).
//
// --servers N (N ≥ 2, issue 15): Loft as N `loft serve --meta postgres://… --blocks s3://…` on one
// PostgreSQL database and one bucket (a throwaway cluster and a Ceph RGW, started once for the whole
// bench by test/helpers/postgres.ts and s3.ts from dist/; a fresh database and bucket per run)
// behind HAProxy (test/helpers/balancer.ts). A mounts server 1 and B server 2, so that every change
// crosses servers (wake-ups through PostgreSQL NOTIFY); the journal watcher goes through the
// balancer; the floor commits through server 1 and long-polls server 2. rclone is not run then.
//
// Every run starts each system from nothing (fresh server data / backend dir, fresh state dirs).
//   Loft:    `loft serve --data <fresh>` on 127.0.0.1; `loft user add bench` (device A's token),
//            `loft user token bench --device devB` (B's), `--device watcher` (this script's journal
//            follower); two `loft mount --state <fresh>` (A and B). A separate user `floor` for the
//            floor row, so its commits never reach A or B.
//   rclone:  `rclone serve webdav <fresh dir>` on 127.0.0.1 and two `rclone mount :webdav,url=…:`
//            with RCLONE_MOUNT_FLAGS (below, with reasons). The webdav backend has no change
//            notification: B sees a change when its directory cache (--dir-cache-time) expires.
// Set-up (untimed): A makes the directory sync-rN/ and a few files; B lists them (readdir only).
// Then CHANGES changes, one at a time, in this repeating order of ten:
//   create, overwrite (B warm), rename, delete, mkdir, create, overwrite (B cold), rename, delete, mkdir
//   create     A writes a new 0.2–4 KiB file (open, write, close)
//   overwrite  A rewrites an existing file from scratch (O_TRUNC) with new bytes of another size,
//              alternately larger and smaller
//     B warm:  right before A's change, B stats and reads the file (as a file manager or a preview
//              that just showed it would): the kernel now caches its attributes for attr_timeout
//     B cold:  B has never looked the file up (it only listed it). Loft: B's control socket is polled
//              until B's mirror has applied the change (its cursor), then B stats and reads once
//              (polling stat before the change arrives would make the kernel cache the old size);
//              rclone has no such signal: B polls stat and read as in the warm case
//   rename     A renames a file to a new name;  delete  A unlinks a file;  mkdir  A makes a directory
// The clock starts when A's system call returns (close, rename, unlink, mkdir) and, per change:
//   committed  Loft: this script's own long-poll of GET /v1/changes/wait (a third device token)
//              delivers the journal entry (same name, the new size / tombstone / move); rclone: the
//              webdav server's backend directory shows it (polled every POLL_MS)
//   visible    B's readdir of sync-rN/ (polled every POLL_MS): the new name appears (create, mkdir,
//              rename, with the old name gone) or the name disappears (delete); create also records
//              when reading the file on B gives its bytes; overwrite: both when B's stat shows the
//              new size and when B's open + read gives the new bytes ("visible" is the later one).
//              For rename and delete the script also notes whether B's stat of the old name still
//              succeeded once the listing had dropped it (a cached dentry).
// Each wait is capped at WAIT_CAP_MS; a change not seen by then counts as a timeout (∞ in the
// percentiles). floor: per run, CHANGES commits through the HTTP API by the `floor` user, each with
// a long-poll already waiting: commit sent → long-poll answered (what scripts/bench/server.mjs
// measures), the least a change can take to reach another device.
// The main table has the median across runs of each run's median and p99; the table per kind pools
// all runs' samples (p50, p90, p99, max). Progress → stderr. Every mount is unmounted (SIGTERM to
// its process, then fusermount -u, then -uz) and every child killed on exit, error or Ctrl-C;
// /proc/mounts is checked at the end.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const LOFT_BIN = path.join(ROOT, 'bin', 'loft.js');
const KiB = 1024;
const MiB = 1024 * KiB;
const POLL_MS = 1; // B's readdir / stat / read loop and the rclone backend check: a tight loop
const STATUS_POLL_MS = 2; // B's control socket (Loft, cold overwrite)
const WAIT_CAP_MS = 15_000; // per wait; above Loft's attr_timeout (10 s) so its effect is measured
const SETTLE_MS = 20; // pause between two changes
const FLOOR_POLL_SETTLE_MS = 10; // lets the floor's long-poll reach the server before the commit
const FLOOR_WARMUP = 10; // floor commits measured first and left out (a fresh server's JIT warm-up)
const MOUNT_READY_MS = 60_000;
const STOP_GRACE_MS = 15_000;
// src/client/fuse/fuse-mount.ts ATTR_TIMEOUT_S, ENTRY_TIMEOUT_S (for the notes)
const LOFT_ATTR_TIMEOUT_S = '10 (entries 10; a remote change drops the kernel entries it touched)';
// rclone mount flags, one by one:
//   --vfs-cache-mode writes   needed to rewrite a file in place from a mount (A); files opened
//                             read-only are read from the remote, not a cache (B)
//   --vfs-write-back 0s       upload as soon as the file is closed (the default 5s would add a
//                             deliberate 5 s to every create and overwrite; Loft has no delay)
//   --dir-cache-time 1s       how long B trusts a directory listing; the webdav backend has no
//                             change notification, so this is how soon B can see a change at all
//                             (rclone's documented way to see remote changes sooner; default 5m)
//   --poll-interval 0         no change polling (webdav cannot; 0 is the documented "disable" and
//                             rclone requires it to be below --dir-cache-time)
//   --attr-timeout 1s         rclone's default, written out: the kernel caches attributes 1 s
//   --config /dev/null        no config file (the remote is a connection string)
const RCLONE_MOUNT_FLAGS = [
  '--vfs-cache-mode',
  'writes',
  '--vfs-write-back',
  '0s',
  '--dir-cache-time',
  '1s',
  '--poll-interval',
  '0',
  '--attr-timeout',
  '1s',
];
const SYSTEMS = ['loft', 'rclone'];
const CYCLE = [
  'create',
  'overwriteWarm',
  'rename',
  'delete',
  'mkdir',
  'create',
  'overwriteCold',
  'rename',
  'delete',
  'mkdir',
];

const execFileP = promisify(execFile);
const log = (msg) => process.stderr.write(`sync bench: ${msg}\n`);
const firstLine = (text) =>
  String(text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? '';
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const sorted = (xs) => [...xs].sort((a, b) => a - b);
/** Nearest-rank percentile of an ascending array (Infinity stands for a timeout). */
const pct = (s, p) =>
  s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN;
const median = (xs) => {
  const s = sorted(xs);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
function fmtMs(v) {
  if (v === Infinity) return `timeout (>${WAIT_CAP_MS / 1000} s)`;
  if (!Number.isFinite(v)) return 'n/a';
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return Math.round(v).toLocaleString('en-US');
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

function parseArgs(argv) {
  const usage =
    'usage: node scripts/bench/sync.mjs [--runs N] [--changes N] [--only loft,rclone] [--servers N] [--shared 1]';
  const opts = { runs: 3, changes: 100, only: [...SYSTEMS], servers: 1, shared: 0 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.split('=', 2);
    const key = flag.replace(/^--/, '');
    const value = inline ?? argv[++i];
    if (!flag.startsWith('--') || !(key in opts) || value === undefined)
      throw new Error(`${usage} (bad "${arg}")`);
    if (key === 'only') {
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

// ---- child processes and mounts (as in drive.mjs / write.mjs) ---------------------------------------

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

async function waitForOutput(child, stream, re, what, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(child[stream]);
    if (m) return m;
    if (!alive(child)) throw new Error(`${child.name} exited (${child.exit}): ${firstLine(child.stderr)}`);
    if (Date.now() > deadline) throw new Error(`${what}: nothing after ${ms / 1000} s`);
    await sleep(20);
  }
}

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

/** Polls `check()` every `everyMs` until true; performance.now() of the first true, or Infinity after capMs. */
async function pollUntil(check, { capMs = WAIT_CAP_MS, everyMs = POLL_MS, from = performance.now() } = {}) {
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() - from > capMs) return Infinity;
    await sleep(everyMs);
  }
}

const listOf = (dir) => fsp.readdir(dir).catch(() => []);
const sizeIs = (file, size) =>
  fsp.stat(file).then(
    (st) => st.size === size,
    () => false,
  );
const contentIs = (file, buf) =>
  fsp.readFile(file).then(
    (b) => b.equals(buf),
    () => false,
  );
const exists = (file) =>
  fsp.stat(file).then(
    () => true,
    () => false,
  );

// ---- Loft ---------------------------------------------------------------------------------------------

/** An HTTP client of the Loft API (undici, its own keep-alive pool). */
async function loftApi(url, token) {
  const { Agent, request } = await import('undici');
  const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 });
  const call = async (method, urlPath, { json, bytes, signal } = {}) => {
    const headers = { authorization: `Bearer ${token}` };
    let body;
    if (json !== undefined) ((headers['content-type'] = 'application/json'), (body = JSON.stringify(json)));
    if (bytes !== undefined) ((headers['content-type'] = 'application/octet-stream'), (body = bytes));
    const res = await request(url + urlPath, { method, headers, body, dispatcher: agent, signal });
    const text = await res.body.text();
    if (res.statusCode >= 300)
      throw new Error(`${method} ${urlPath} -> ${res.statusCode}: ${text.slice(0, 300)}`);
    return JSON.parse(text);
  };
  return { call, close: () => agent.destroy().catch(() => {}) };
}

/**
 * Follows the journal with long-polls, as a device's pull loop does. `expect(pred)` (registered
 * before the change is made) resolves with the performance.now() at which a matching entry arrived.
 */
class JournalWatcher {
  constructor(api) {
    this.api = api;
    this.cursor = '';
    this.waiters = new Set();
    this.seenCursors = []; // { cursor, at } in arrival order
    this.abort = new AbortController();
    this.error = null;
  }
  async start() {
    for (let more = true; more;) {
      const page = await this.api.call(
        'GET',
        `/v1/changes?limit=10000${this.cursor && `&cursor=${this.cursor}`}`,
      );
      this.cursor = page.cursor;
      more = page.hasMore;
    }
    this.loop = (async () => {
      while (!this.abort.signal.aborted) {
        try {
          const page = await this.api.call(
            'GET',
            `/v1/changes/wait?timeout=25&limit=10000${this.cursor && `&cursor=${this.cursor}`}`,
            {
              signal: this.abort.signal,
            },
          );
          const at = performance.now();
          this.cursor = page.cursor;
          this.seenCursors.push({ cursor: page.cursor, at });
          for (const w of [...this.waiters])
            if (page.entries.some(w.pred)) {
              this.waiters.delete(w);
              w.resolve({ at, cursorIndex: this.seenCursors.length - 1 });
            }
        } catch (err) {
          if (this.abort.signal.aborted) return;
          this.error = err;
          log(`journal watcher: ${err.message}; retrying`);
          await sleep(100);
        }
      }
    })();
  }
  expect(pred) {
    let w;
    const p = new Promise((resolve) => (w = { pred, resolve }));
    this.waiters.add(w);
    return {
      promise: p,
      cancel: () => {
        this.waiters.delete(w);
        w.resolve(null);
      },
    };
  }
  /** Cursors the watcher received from the page at `index` on. */
  cursorsFrom(index) {
    return new Set(this.seenCursors.slice(index).map((c) => c.cursor));
  }
  async stop() {
    this.abort.abort();
    await this.loop?.catch(() => {});
  }
}

/**
 * One `loft serve --data <fresh>`, or with `scale` (--servers N) N servers on a fresh PostgreSQL
 * database and bucket behind a fresh HAProxy. `url`: what the watcher uses (the balancer);
 * `urlA`, `urlB`: what A and B mount (servers 1 and 2).
 */
async function startLoftServer(dir, scale, shared = false) {
  const dataDir = path.join(dir, 'server-data');
  fs.mkdirSync(dataDir, { recursive: true });
  let stores = [];
  if (scale) {
    const [db, bucket] = await Promise.all([scale.testDatabase(), scale.s3.bucket()]);
    stores = ['--meta', db.url, '--blocks', scale.s3.url(bucket, 'blocks')];
  }
  const servers = [];
  for (let i = 0; i < (scale?.servers ?? 1); i++) {
    servers.push(
      startChild(`loft serve ${i + 1}`, process.execPath, [
        LOFT_BIN,
        'serve',
        '--data',
        scale ? path.join(dataDir, `s${i + 1}`) : dataDir,
        '--listen',
        '127.0.0.1:0',
        ...stores,
      ]),
    );
  }
  const urls = [];
  for (const server of servers) {
    // 60 s: a server on PostgreSQL + S3 loads the AWS SDK; a saturated machine took > 20 s.
    const [, url] = await waitForOutput(
      server,
      'stdout',
      /listening on (http:\/\/\S+)/,
      'loft serve start-up',
      60_000,
    );
    urls.push(url.replace(/\/$/, ''));
  }
  const balancer = scale ? await scale.startBalancer(urls) : null;
  const cli = async (...args) =>
    (await execFileP(process.execPath, [LOFT_BIN, ...args, '--data', dataDir, ...stores])).stdout
      .trim()
      .split('\n')
      .pop();
  const tokenA = await cli('user', 'add', 'bench');
  // --shared: B is another user, who sees A's folder /shared (issue 13 item 1).
  const tokenB = shared
    ? await cli('user', 'add', 'bench2', '--device', 'devB')
    : await cli('user', 'token', 'bench', '--device', 'devB');
  const tokenWatch = await cli('user', 'token', 'bench', '--device', 'watcher');
  const tokenFloor = await cli('user', 'add', 'floor');
  return {
    server: servers[0],
    servers,
    balancer,
    url: balancer?.url ?? urls[0],
    urlA: urls[0],
    urlB: urls[1] ?? urls[0],
    tokenA,
    tokenB,
    tokenWatch,
    tokenFloor,
  };
}

async function mountLoft(srv, dir, label, token, url = srv.url) {
  const mnt = path.join(dir, `mnt-${label}`);
  const state = path.join(dir, `state-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(state, { recursive: true });
  // The token through the environment: a command line is visible to every local user in ps.
  const args = [LOFT_BIN, 'mount', mnt, '--server', url, '--state', state];
  const env = { ...process.env, LOFT_TOKEN: token };
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
    const synced = await pollUntil(async () => (await loftStatus(m)).synced !== false, {
      capMs: MOUNT_READY_MS,
      everyMs: 50,
    });
    if (synced === Infinity) throw new Error(`${label}: not synced after ${MOUNT_READY_MS / 1000} s`);
  } catch (err) {
    await stopMount(m).catch(() => {});
    throw err;
  }
  return m;
}

/** GET /status on the mount's control socket (what `loft status --json` prints). */
const loftStatus = (m) => httpJson({ socketPath: m.socket, path: '/status', method: 'GET', agent: m.agent });

/** The floor: commit sent → a waiting long-poll answered, `n` times (user `floor`, nobody mounts it). */
async function measureFloor(srv, n) {
  const committer = await loftApi(srv.urlA, srv.tokenFloor);
  const poller = await loftApi(srv.urlB, srv.tokenFloor);
  try {
    const block = randomBytes(4 * KiB);
    const hash = sha256(block);
    await committer.call('PUT', `/v1/blocks/${hash}`, { bytes: block });
    const withCursor = (c) => (c ? `&cursor=${c}` : '');
    let cursor = '';
    for (let more = true; more;) {
      const page = await poller.call('GET', `/v1/changes?limit=10000${withCursor(cursor)}`);
      ((cursor = page.cursor), (more = page.hasMore));
    }
    const out = [];
    for (let i = 0; i < n + FLOOR_WARMUP; i++) {
      const poll = poller
        .call('GET', `/v1/changes/wait?timeout=30${withCursor(cursor)}`)
        .then((page) => ({ page, at: performance.now() }));
      poll.catch(() => {});
      await sleep(FLOOR_POLL_SETTLE_MS);
      const t0 = performance.now();
      await committer.call('POST', '/v1/commit', {
        json: {
          path: `/floor/f${i}`,
          parentRev: null,
          blocks: [{ hash, size: block.length }],
          size: block.length,
          mtime: Date.now(),
        },
      });
      const { page, at } = await poll;
      if (!page.entries.length) throw new Error('floor: long-poll answered without entries');
      if (i >= FLOOR_WARMUP) out.push(at - t0);
      cursor = page.cursor;
    }
    return out;
  } finally {
    await committer.close();
    await poller.close();
  }
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
  return { server, url, backend };
}

async function mountRclone(srv, dir, label, fuseBin) {
  const mnt = path.join(dir, `mnt-${label}`);
  const cacheDir = path.join(dir, `cache-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(cacheDir, { recursive: true });
  const args = [
    'mount',
    `:webdav,url='${srv.url}':`,
    mnt,
    '--config',
    '/dev/null',
    '--cache-dir',
    cacheDir,
    ...RCLONE_MOUNT_FLAGS,
  ];
  const env = { ...process.env, PATH: `${fuseBin}:${process.env.PATH}` };
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
      async () =>
        `mountpoint: ${isMounted(mnt) ? 'yes' : 'no'}; rclone: ${firstLine(m.child.stderr) || 'no output'}`,
    );
  } catch (err) {
    await stopMount(m).catch(() => {});
    throw err;
  }
  return m;
}

// ---- the changes ----------------------------------------------------------------------------------------

const newContent = (size) => randomBytes(size);

/**
 * One run against one system. `sys`: name, a (mount A), b (mount B), committed(change) → { promise
 * of at|Infinity, cancel }, applied(commit) → at (Loft only: B's mirror has it).
 */
async function runChanges(sys, run, nChanges) {
  const dirName = `sync-r${run}`;
  const dA = path.join(sys.a.mnt, sys.prefix ?? '', dirName);
  const dB = path.join(sys.b.mnt, sys.prefix ?? '', dirName);
  const cap = (p) => Promise.race([p, sleep(WAIT_CAP_MS + 1000).then(() => Infinity)]);

  // ---- set-up: the directory, a pool of files B has read, seeds B has only listed ----
  const counts = Object.fromEntries(CYCLE.map((k) => [k, 0]));
  for (let i = 0; i < nChanges; i++) counts[CYCLE[i % CYCLE.length]]++;
  await fsp.mkdir(dA);
  const pool = []; // { name, data }: files B has looked up (read)
  const seeds = []; // files B has only listed
  for (let i = 0; i < 3; i++) pool.push({ name: `p${i}.txt`, data: newContent(randomInt(200, 4 * KiB)) });
  for (let i = 0; i < counts.overwriteCold + 1; i++)
    seeds.push({ name: `s${i}.txt`, data: newContent(randomInt(200, 4 * KiB)) });
  for (const f of [...pool, ...seeds]) await fsp.writeFile(path.join(dA, f.name), f.data);
  const setupDone = await pollUntil(
    async () => {
      const names = new Set(await listOf(dB));
      return [...pool, ...seeds].every((f) => names.has(f.name));
    },
    { capMs: 60_000, everyMs: 20 },
  );
  if (setupDone === Infinity) throw new Error(`${sys.name}: B did not list the set-up files within 60 s`);
  for (const f of pool)
    if (!(await pollUntil(() => contentIs(path.join(dB, f.name), f.data), { capMs: 30_000, everyMs: 20 })))
      throw new Error(`${sys.name}: B does not read ${f.name} right`);
  await sys.settle?.();
  await sleep(200);

  const results = [];
  const nOverwrite = { overwriteWarm: 0, overwriteCold: 0 }; // each kind alternates grow / shrink
  for (let i = 0; i < nChanges; i++) {
    const kind = CYCLE[i % CYCLE.length];
    const tag = String(i).padStart(4, '0');
    const r = { kind, i };
    let op; // the change A makes
    let change; // what committed() and B look for
    if (kind === 'create') {
      const f = { name: `c${tag}.txt`, data: newContent(randomInt(200, 4 * KiB)) };
      change = { kind, name: f.name, size: f.data.length, data: f.data };
      op = () => fsp.writeFile(path.join(dA, f.name), f.data);
      r.after = () => pool.push(f);
    } else if (kind === 'mkdir') {
      change = { kind, name: `d${tag}` };
      op = () => fsp.mkdir(path.join(dA, change.name));
    } else if (kind === 'rename') {
      const f = pool.shift();
      const to = `m${tag}.txt`;
      change = { kind, name: to, from: f.name, size: f.data.length, data: f.data };
      op = () => fsp.rename(path.join(dA, f.name), path.join(dA, to));
      r.after = () => pool.push({ name: to, data: f.data });
    } else if (kind === 'delete') {
      const f = pool.shift();
      change = { kind, name: f.name };
      op = () => fsp.unlink(path.join(dA, f.name));
    } else {
      const warm = kind === 'overwriteWarm';
      const f = warm ? pool.shift() : seeds.shift();
      const grow = nOverwrite[kind]++ % 2 === 0;
      const size = grow
        ? f.data.length + randomInt(500, 2 * KiB)
        : Math.max(16, Math.floor(f.data.length / 2) - randomInt(0, 64));
      const data = newContent(size);
      change = { kind, name: f.name, size, data, grow, warm };
      r.grow = grow;
      if (warm) {
        // B has just shown the file: stat + read (and check it is the current content).
        const st = await fsp.stat(path.join(dB, f.name));
        if (st.size !== f.data.length || !(await contentIs(path.join(dB, f.name), f.data)))
          throw new Error(`${sys.name}: B's ${f.name} is not the current content before the overwrite`);
      }
      op = () => fsp.writeFile(path.join(dA, f.name), data);
      r.after = () => pool.push({ name: f.name, data });
    }

    const committed = sys.committed(change);
    await op();
    const t0 = performance.now();
    // A time before t0 (rclone does mkdir, rename and unlink on the server inside the call) is 0.
    const since = (at) => (at === Infinity || at === null ? Infinity : Math.max(0, at - t0));

    // B's view.
    let bView;
    if (kind === 'create' || kind === 'mkdir' || kind === 'rename' || kind === 'delete') {
      const listed = await pollUntil(
        async () => {
          const names = await listOf(dB);
          if (kind === 'delete') return !names.includes(change.name);
          if (kind === 'rename') return names.includes(change.name) && !names.includes(change.from);
          return names.includes(change.name);
        },
        { from: t0 },
      );
      bView = { visible: since(listed) };
      if (kind === 'create' && listed !== Infinity)
        bView.content = since(
          await pollUntil(() => contentIs(path.join(dB, change.name), change.data), { from: t0 }),
        );
      if ((kind === 'rename' || kind === 'delete') && listed !== Infinity) {
        const old = kind === 'rename' ? change.from : change.name;
        bView.staleOldName = await exists(path.join(dB, old));
      }
      if (kind === 'rename' && listed !== Infinity)
        bView.content = since(
          await pollUntil(() => contentIs(path.join(dB, change.name), change.data), { from: t0 }),
        );
    } else {
      const file = path.join(dB, change.name);
      if (!change.warm && sys.applied) {
        // Loft, B cold: wait for B's mirror (control socket), then look once.
        const c = await cap(committed.promise);
        const applied = c && c !== Infinity ? await sys.applied(c, t0) : Infinity;
        bView = { applied: since(applied) };
        const [statAt, contentAt] = await Promise.all([
          pollUntil(() => sizeIs(file, change.size), { from: t0 }),
          pollUntil(() => contentIs(file, change.data), { from: t0 }),
        ]);
        Object.assign(bView, { stat: since(statAt), content: since(contentAt) });
      } else {
        const [statAt, contentAt] = await Promise.all([
          pollUntil(() => sizeIs(file, change.size), { from: t0 }),
          pollUntil(() => contentIs(file, change.data), { from: t0 }),
        ]);
        bView = { stat: since(statAt), content: since(contentAt) };
      }
      bView.visible = Math.max(bView.stat, bView.content);
    }
    Object.assign(r, bView);
    const c = await cap(committed.promise);
    committed.cancel();
    r.committed = since(typeof c === 'object' && c !== null ? c.at : c);
    r.after?.();
    delete r.after;
    results.push(r);
    if (r.visible === Infinity || r.committed === Infinity)
      log(
        `${sys.name} run ${run}: change ${i} (${kind} ${change.name}): ${r.committed === Infinity ? 'not committed' : 'not visible on B'} within ${WAIT_CAP_MS / 1000} s`,
      );
    await sleep(SETTLE_MS);
  }
  return results;
}

async function measureLoft(work, run, nChanges, scale, shared = false) {
  const dir = path.join(work, `loft-r${run}`);
  fs.mkdirSync(dir);
  const srv = await startLoftServer(dir, scale, shared);
  let a, b, watcher, api;
  try {
    log(`loft run ${run}: floor (long-poll wake-up, ${nChanges} commits)…`);
    const floor = await measureFloor(srv, nChanges);
    a = await mountLoft(srv, dir, 'A', srv.tokenA, srv.urlA);
    b = await mountLoft(srv, dir, 'B', srv.tokenB, srv.urlB);
    if (shared) {
      // A's folder /shared, shared with B's user: the changes below go there.
      await fsp.mkdir(path.join(a.mnt, 'shared'));
      await pollUntil(async () => (await loftStatus(a)).pending === 0, { capMs: 30_000, everyMs: 20 });
      await execFileP(
        process.execPath,
        [LOFT_BIN, 'share', '/shared', '--with', 'bench2', '--server', srv.url],
        {
          env: { ...process.env, LOFT_TOKEN: srv.tokenA, LOFT_STATE: '' },
        },
      );
      if (
        (await pollUntil(() => exists(path.join(b.mnt, 'shared')), { capMs: 30_000, everyMs: 20 })) ===
        Infinity
      )
        throw new Error('B does not show the shared folder within 30 s');
    }
    api = await loftApi(srv.url, srv.tokenWatch);
    watcher = new JournalWatcher(api);
    await watcher.start();
    const matches = (ch) => (e) => {
      if (e.name !== ch.name) return false;
      if (ch.kind === 'delete') return e.deleted;
      if (e.deleted) return false;
      if (ch.kind === 'mkdir') return e.kind === 'dir';
      if (ch.kind === 'rename') return e.op === 'move';
      return e.size === ch.size; // create, overwrite: the entry with the new content
    };
    const sys = {
      name: 'loft',
      a,
      b,
      prefix: shared ? 'shared' : '',
      committed: (ch) => watcher.expect(matches(ch)),
      // B's mirror has the change when its cursor is one the watcher received with the entry or later.
      // (B's cursor is another user's view with --shared: not comparable with the watcher's.)
      applied: shared
        ? undefined
        : async (c, t0) =>
            pollUntil(async () => watcher.cursorsFrom(c.cursorIndex).has((await loftStatus(b)).cursor), {
              everyMs: STATUS_POLL_MS,
              from: t0,
            }),
      settle: () =>
        pollUntil(async () => (await loftStatus(a)).pending === 0, { capMs: 30_000, everyMs: 20 }),
    };
    log(`loft run ${run}: ${nChanges} changes…`);
    const results = await runChanges(sys, run, nChanges);
    return { results, floor };
  } finally {
    await watcher?.stop();
    await api?.close();
    for (const m of [b, a]) if (m) await stopMount(m).catch((err) => log(`loft: ${err.message}`));
    await srv.balancer?.stop();
    for (const c of srv.servers) await killChild(c);
    if (!mountedPaths().some((p) => p.startsWith(`${dir}/`)))
      fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function measureRclone(work, run, nChanges, fuseBin) {
  const dir = path.join(work, `rclone-r${run}`);
  fs.mkdirSync(dir);
  const srv = await startRcloneServer(dir);
  let a, b;
  try {
    a = await mountRclone(srv, dir, 'A', fuseBin);
    b = await mountRclone(srv, dir, 'B', fuseBin);
    const be = (name) => path.join(srv.backend, `sync-r${run}`, name);
    const landed = (ch) => {
      if (ch.kind === 'delete') return async () => !(await exists(be(ch.name)));
      if (ch.kind === 'mkdir')
        return () =>
          fsp.stat(be(ch.name)).then(
            (st) => st.isDirectory(),
            () => false,
          );
      if (ch.kind === 'rename')
        return async () => !(await exists(be(ch.from))) && (await contentIs(be(ch.name), ch.data));
      return () => contentIs(be(ch.name), ch.data);
    };
    const sys = {
      name: 'rclone',
      a,
      b,
      committed: (ch) => {
        let stop = false;
        const check = landed(ch);
        const promise = (async () => {
          await sleep(0); // starts once A's call has been made
          return pollUntil(async () => stop || (await check())).then((at) => (stop ? null : at));
        })();
        return { promise, cancel: () => (stop = true) };
      },
    };
    log(`rclone run ${run}: ${nChanges} changes…`);
    return { results: await runChanges(sys, run, nChanges) };
  } finally {
    for (const m of [b, a]) if (m) await stopMount(m).catch((err) => log(`rclone: ${err.message}`));
    await killChild(srv.server);
    if (!mountedPaths().some((p) => p.startsWith(`${dir}/`)))
      fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main -----------------------------------------------------------------------------------------------

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  let scale = null; // --servers N ≥ 2: PostgreSQL + S3 + HAProxy, Loft only
  if (opts.servers > 1) {
    if (opts.only.includes('rclone')) log('--servers: Loft only (rclone has no such setting)');
    opts.only = ['loft'];
  }
  const want = (s) => opts.only.includes(s);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'loft-sync-bench-'));
  let cleaning = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const m of [...mounts]) await stopMount(m).catch((err) => log(`cleanup: ${err.message}`));
      for (const c of [...children]) await killChild(c).catch(() => {});
      scale?.s3.stop();
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
    if (want('loft') && !fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js')))
      throw new Error('dist/ is missing (no dist/src/cli/main.js); run npm run build first');
    const ctx = {};
    if (want('rclone')) {
      try {
        await ensureRclone();
        const { stdout } = await execFileP('rclone', ['version']);
        ctx.rclone = { version: firstLine(stdout), fuseBin: await rcloneFuseBin(work) };
      } catch (err) {
        ctx.rclone = { error: `rclone: not available (${err.message})` };
      }
    }
    if (want('loft')) ctx.loft = {};
    if (opts.servers > 1) {
      // dist/test/helpers: the throwaway PostgreSQL cluster (stopped at this process's exit) and
      // Ceph RGW the tests use, and the tests' HAProxy.
      const dist = path.join(ROOT, 'dist', 'test', 'helpers');
      const { testDatabase } = await import(path.join(dist, 'postgres.js'));
      const { startS3 } = await import(path.join(dist, 's3.js'));
      const { startBalancer } = await import(path.join(dist, 'balancer.js'));
      const started = performance.now();
      const [db0, s3] = await Promise.all([testDatabase(), startS3()]);
      // Secrets through the environment only (the servers and `loft user` inherit it).
      Object.assign(process.env, db0.env, s3.env);
      scale = { servers: opts.servers, testDatabase, s3, startBalancer };
      log(`PostgreSQL and S3 up in ${Math.round(performance.now() - started)} ms`);
    }
    const runs = Object.fromEntries(SYSTEMS.map((s) => [s, []])); // per run: change records
    const floors = []; // per run: floor samples
    const errors = Object.fromEntries(SYSTEMS.map((s) => [s, []]));
    const pressure = [];
    for (let run = 1; run <= opts.runs; run++) {
      pressure.push(cpuPressure());
      log(`run ${run}/${opts.runs} (CPU pressure before it: ${pressure.at(-1)}%)`);
      for (const s of SYSTEMS) {
        if (!want(s) || ctx[s].error) continue;
        try {
          const out =
            s === 'loft'
              ? await measureLoft(work, run, opts.changes, scale, opts.shared > 0)
              : await measureRclone(work, run, opts.changes, ctx.rclone.fuseBin);
          runs[s].push(out.results);
          if (out.floor) floors.push(out.floor);
          const vis = sorted(out.results.map((r) => r.visible));
          log(`run ${run}: ${s}: visible on B p50 ${fmtMs(pct(vis, 50))} ms, p99 ${fmtMs(pct(vis, 99))} ms`);
        } catch (err) {
          log(`run ${run}: ${s} failed: ${err.stack ?? err.message}`);
          for (const m of [...mounts]) await stopMount(m).catch(() => {});
          if (err.mountFailed) ctx[s].error = `${s} mount failed: ${err.message}`;
          else errors[s].push(`run ${run}: ${err.message}`);
        }
      }
    }

    // ---- report ----
    const live = (s) => want(s) && !ctx[s]?.error && runs[s].length;
    const unavailable = (s) =>
      !want(s) ? '—' : ctx[s]?.error ? `n/a (${ctx[s].error})` : 'n/a (no run finished)';
    const perRun = (s, get, p) =>
      runs[s].map((rs) => pct(sorted(rs.map(get).filter((v) => v !== undefined)), p));
    const medRuns = (s, get, p) => (live(s) ? median(perRun(s, get, p)) : NaN);
    const floorRun = (p) => median(floors.map((f) => pct(sorted(f), p)));
    const cellRuns = (s, get, p) => (live(s) ? `${fmtMs(medRuns(s, get, p))}` : unavailable(s));
    const vis = (r) => r.visible;
    const com = (r) => r.committed;

    console.log(
      `Loft sync (propagation) benchmark: ${opts.runs} run(s) × ${opts.changes} changes; ` +
        "ms from A's system call returning; median across runs of each run's percentile\n",
    );
    console.log('| metric (ms) | Loft | rclone | floor | bar (issue 5) | met? |');
    console.log('|---|---:|---:|---:|---|---|');
    const met = (v, bar) => (Number.isFinite(v) ? (v <= bar ? 'met' : '**not met**') : 'n/a');
    const floorCell = (p) => (floors.length ? fmtMs(floorRun(p)) : '—');
    console.log(
      `| close on A → visible on B, all changes, median | ${cellRuns('loft', vis, 50)} | ${cellRuns('rclone', vis, 50)} | ${floorCell(50)} | ≤ 100 | ${met(medRuns('loft', vis, 50), 100)} |`,
    );
    console.log(
      `| close on A → visible on B, all changes, p99 | ${cellRuns('loft', vis, 99)} | ${cellRuns('rclone', vis, 99)} | ${floorCell(99)} | ≤ 500 | ${met(medRuns('loft', vis, 99), 500)} |`,
    );
    console.log(
      `| close on A → visible on B, all changes, max | ${cellRuns('loft', vis, 100)} | ${cellRuns('rclone', vis, 100)} | ${floors.length ? fmtMs(Math.max(...floors.flat())) : '—'} | — | — |`,
    );
    console.log(
      `| close on A → committed on the server, median | ${cellRuns('loft', com, 50)} | ${cellRuns('rclone', com, 50)} | — | — | — |`,
    );
    console.log(
      `| close on A → committed on the server, p99 | ${cellRuns('loft', com, 99)} | ${cellRuns('rclone', com, 99)} | — | — | — |`,
    );

    // Per kind, all runs pooled.
    const ROWS = [
      ["create: name in B's listing", (r) => r.kind === 'create', (r) => r.visible],
      ['create: B reads the new bytes', (r) => r.kind === 'create', (r) => r.content],
      ["mkdir: name in B's listing", (r) => r.kind === 'mkdir', (r) => r.visible],
      ['rename: new name listed, old gone', (r) => r.kind === 'rename', (r) => r.visible],
      ['rename: B reads the file under its new name', (r) => r.kind === 'rename', (r) => r.content],
      ["delete: name gone from B's listing", (r) => r.kind === 'delete', (r) => r.visible],
      [
        'overwrite, B warm, grow: B reads the new bytes (reopen)',
        (r) => r.kind === 'overwriteWarm' && r.grow,
        (r) => r.content,
      ],
      [
        "overwrite, B warm, grow: B's stat shows the new size",
        (r) => r.kind === 'overwriteWarm' && r.grow,
        (r) => r.stat,
      ],
      [
        'overwrite, B warm, shrink: B reads the new bytes (reopen)',
        (r) => r.kind === 'overwriteWarm' && !r.grow,
        (r) => r.content,
      ],
      [
        "overwrite, B warm, shrink: B's stat shows the new size",
        (r) => r.kind === 'overwriteWarm' && !r.grow,
        (r) => r.stat,
      ],
      [
        "overwrite, B cold: B's mirror has it (Loft control socket)",
        (r) => r.kind === 'overwriteCold',
        (r) => r.applied,
      ],
      ['overwrite, B cold: B reads the new bytes', (r) => r.kind === 'overwriteCold', (r) => r.content],
      ["overwrite, B cold: B's stat shows the new size", (r) => r.kind === 'overwriteCold', (r) => r.stat],
      ['committed on the server, all kinds', () => true, (r) => r.committed],
    ];
    const pooled = (s, filter, get) =>
      sorted(
        runs[s]
          .flat()
          .filter(filter)
          .map(get)
          .filter((v) => v !== undefined),
      );
    const q = (s) =>
      s.length
        ? `${[50, 90, 99].map((p) => fmtMs(pct(s, p))).join(' / ')} / ${fmtMs(s.at(-1))} (n=${s.length})`
        : 'n/a';
    console.log('\nPer kind of change, all runs pooled: p50 / p90 / p99 / max (ms), n samples\n');
    console.log('| change: what B sees | Loft | rclone |');
    console.log('|---|---:|---:|');
    for (const [label, filter, get] of ROWS) {
      const cells = SYSTEMS.map((s) => (live(s) ? q(pooled(s, filter, get)) : unavailable(s)));
      if (cells.every((c) => c === 'n/a' || c === '—')) continue;
      console.log(`| ${label} | ${cells.join(' | ')} |`);
    }
    if (floors.length)
      console.log(
        `| floor: commit sent → long-poll answered (HTTP API, no mounts) | ${q(sorted(floors.flat()))} | — |`,
      );

    const lines = [];
    for (const s of SYSTEMS) {
      if (!live(s)) continue;
      lines.push(
        `all runs, ${s}: visible on B p50 ${perRun(s, vis, 50).map(fmtMs).join(', ')}; p99 ${perRun(s, vis, 99).map(fmtMs).join(', ')}; ` +
          `committed p50 ${perRun(s, com, 50).map(fmtMs).join(', ')}`,
      );
      const all = runs[s].flat();
      const timeouts = all.filter((r) => r.visible === Infinity).length;
      const stale = all.filter((r) => r.staleOldName !== undefined);
      lines.push(
        `${s}: ${timeouts} of ${all.length} changes not visible on B within ${WAIT_CAP_MS / 1000} s; ` +
          `stat of the old name on B still succeeded after the listing had dropped it: ${stale.filter((r) => r.staleOldName).length} of ${stale.length} renames/deletes`,
      );
      const ow = all.filter(
        (r) => r.kind.startsWith('overwrite') && Number.isFinite(r.content) && Number.isFinite(r.stat),
      );
      const lag = ow.filter((r) => Math.abs(r.stat - r.content) > 100);
      if (ow.length)
        lines.push(
          `${s}: overwrites where B's stat and B's read disagreed by > 100 ms: ${lag.length} of ${ow.length}` +
            (lag.length
              ? ` (${lag
                  .map(
                    (r) =>
                      `${r.kind === 'overwriteWarm' ? 'warm' : 'cold'} ${r.grow ? 'grow' : 'shrink'}: stat ${fmtMs(r.stat)}, read ${fmtMs(r.content)}`,
                  )
                  .slice(0, 6)
                  .join('; ')}${lag.length > 6 ? '; …' : ''})`
              : ''),
        );
    }
    if (floors.length)
      lines.push(
        `all runs, floor p50 ${floors.map((f) => fmtMs(pct(sorted(f), 50))).join(', ')}; p99 ${floors.map((f) => fmtMs(pct(sorted(f), 99))).join(', ')}`,
      );
    for (const s of SYSTEMS)
      if (errors[s].length) lines.push(`${s}: failed run(s), left out: ${errors[s].join('; ')}`);
    if (live('loft') && scale)
      lines.push(
        `Loft, ${scale.servers} servers: \`loft serve --meta postgres://… --blocks s3://…\` × ${scale.servers} on one PostgreSQL database (throwaway cluster, fsync off) and one Ceph RGW bucket, behind HAProxy (round robin per request); A mounts server 1, B server 2 (every change crosses servers: PostgreSQL NOTIFY wakes B's long-poll); the watcher goes through the balancer; the floor commits on server 1 and long-polls server 2`,
      );
    else if (live('loft'))
      lines.push(
        `Loft: two \`loft mount --state <fresh>\` (devices A and B, one user) on \`loft serve --data <fresh>\` at 127.0.0.1; kernel attr timeout ${LOFT_ATTR_TIMEOUT_S} s (page cache per open: keep_cache or not); committed = this script's own long-poll of the journal (a third device) delivered the entry`,
      );
    if (ctx.rclone && !ctx.rclone.error)
      lines.push(
        `rclone: ${ctx.rclone.version}: two \`rclone mount :webdav,url=…: --cache-dir <fresh> ${RCLONE_MOUNT_FLAGS.join(' ')}\` of one \`rclone serve webdav <fresh dir>\` at 127.0.0.1; committed = the backend directory has it`,
      );
    lines.push(
      "committed 0.00 means the server had the change when A's call returned (rclone makes mkdir, rename and unlink on the server inside the call; Loft queues every change and commits it after)",
    );
    lines.push(
      `B is polled every ~${POLL_MS} ms (readdir, or stat + open/read/close): each poll is a FUSE request to B's process, which also applies the change`,
    );
    lines.push(
      `CPU pressure from other processes before each run (PSI cpu "some" avg10, %): ${pressure.join(', ')}; the machine is shared, so numbers vary`,
    );
    const cpus = os.cpus();
    lines.push(
      `machine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores, ${Math.round(os.totalmem() / MiB / 1024)} GiB RAM (${os.platform()} ${os.release()})`,
    );
    console.log(`\n${lines.map((l) => `- ${l}`).join('\n')}`);
    if (SYSTEMS.some((s) => errors[s].length || (want(s) && ctx[s]?.error && s !== 'rclone'))) exitCode = 1;
  } catch (err) {
    console.error(`sync bench: ${err.stack ?? err.message}`);
    exitCode = 1;
  } finally {
    if (!(await cleanup())) exitCode = 1;
    const left = mountedPaths().filter((p) => p.startsWith(work));
    if (left.length) {
      console.error(`sync bench: mounts left behind: ${left.join(', ')}`);
      exitCode = 1;
    } else log('all mounts gone (checked /proc/mounts), child processes stopped');
  }
  process.exit(exitCode);
}

await main();
