// Shared by the benchmarks: child processes, FUSE mounts, `loft serve` + `loft mount`, `rclone serve
// webdav` + `rclone mount`, their commit points, and clean-up on exit. Taken from write.mjs (which,
// with drive.mjs and sync.mjs, still has its own copy: moving those onto this module is left to do).
//
// Every child is killed and every mount unmounted by `shutdown()` (the bench calls it on exit, error
// and Ctrl-C). Tokens travel in LOFT_TOKEN, never on a command line.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
// LOFT_BENCH_BIN: another entry point (a build made with tsc --outDir while dist/ is in use).
export const LOFT_BIN = process.env.LOFT_BENCH_BIN ?? path.join(ROOT, 'bin', 'loft.js');
export const execFileP = promisify(execFile);
const STOP_GRACE_MS = 15_000;
const MOUNT_READY_MS = 60_000;

export const firstLine = (text) =>
  String(text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? '';

export const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** PSI cpu "some" avg10 (%), NaN where /proc/pressure is missing. */
export function cpuPressure() {
  try {
    const m = /^some avg10=([\d.]+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

// ---- child processes --------------------------------------------------------------------------------

const children = new Set();

export function startChild(name, cmd, args, { env } = {}) {
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
export const alive = (c) => c.exit === null;

export async function killChild(c, graceMs = STOP_GRACE_MS) {
  if (!alive(c)) return;
  c.proc.kill('SIGTERM');
  if (await Promise.race([c.closed.then(() => true), sleep(graceMs).then(() => false)])) return;
  c.proc.kill('SIGKILL');
  await c.closed;
}

export const succeeds = (cmd, args) =>
  execFileP(cmd, args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );

export async function waitForOutput(child, stream, re, what, timeoutMs = 20_000) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const m = re.exec(child[stream]);
    if (m) return m;
    if (!alive(child)) throw new Error(`${child.name} exited (${child.exit}): ${firstLine(child.stderr)}`);
    if (performance.now() > deadline) throw new Error(`${what}: nothing after ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

export async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Polls `done()` every `everyMs` until it returns true; returns performance.now() of that moment. */
export async function pollUntil(what, done, timeoutMs, everyMs = 10) {
  const deadline = performance.now() + timeoutMs;
  let last = '';
  for (;;) {
    const r = await done();
    if (r === true) return performance.now();
    if (typeof r === 'string') last = r;
    if (performance.now() > deadline)
      throw new Error(`${what}: not done after ${timeoutMs / 1000} s${last ? ` (${last})` : ''}`);
    await sleep(everyMs);
  }
}

export function httpJson(options, body) {
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

// ---- mounts -----------------------------------------------------------------------------------------

function mountedPaths() {
  return fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[1].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))));
}
export const isMounted = (mnt) => mountedPaths().includes(mnt);

export async function unmount(mnt) {
  for (const args of [['-u'], ['-uz']]) {
    if (!isMounted(mnt)) return true;
    await execFileP('fusermount', [...args, mnt]).catch(() => {});
  }
  if (isMounted(mnt)) await execFileP('umount', ['-l', mnt]).catch(() => {});
  return !isMounted(mnt);
}

const mounts = new Set();

export async function stopMount(m) {
  if (!mounts.has(m)) return;
  if (alive(m.child)) {
    m.child.proc.kill('SIGTERM');
    await Promise.race([m.child.closed, sleep(STOP_GRACE_MS)]);
    await unmount(m.mnt);
    await killChild(m.child, 5000);
  }
  m.agent?.destroy();
  if (!(await unmount(m.mnt))) throw new Error(`could not unmount ${m.mnt}`);
  mounts.delete(m);
}

async function waitReady(m, check, describe) {
  const deadline = Date.now() + MOUNT_READY_MS;
  for (;;) {
    if (!alive(m.child)) {
      await m.child.closed;
      throw new Error(firstLine(m.child.stderr) || `exited with ${m.child.exit} before it was ready`);
    }
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`not ready after ${MOUNT_READY_MS / 1000} s (${await describe()})`);
    await sleep(50);
  }
}

/** Kills every child and unmounts every mount this module started. */
export async function shutdown() {
  for (const m of [...mounts]) await stopMount(m).catch(() => {});
  for (const c of [...children]) await killChild(c, 5000);
}

// ---- Loft -------------------------------------------------------------------------------------------

export async function startLoftServer(dir) {
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
  return { server, url, token: stdout.trim().split('\n').pop() };
}

export async function mountLoft(srv, dir, label, cacheSize = '2G') {
  const mnt = path.join(dir, `mnt-${label}`);
  const state = path.join(dir, `state-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(state, { recursive: true });
  const args = [LOFT_BIN, 'mount', mnt, '--server', srv.url, '--state', state, '--cache-size', cacheSize];
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
export const loftStatus = (m) =>
  httpJson({ socketPath: m.socket, path: '/status', method: 'GET', agent: m.agent });

/** performance.now() once nothing is pending or uploading (everything committed on the server). */
export function loftCommitted(m, what, timeoutMs = 1_800_000, everyMs = 10) {
  return pollUntil(
    `loft: ${what} committed`,
    async () => {
      const s = await loftStatus(m);
      if (s.pending === 0 && s.uploading === 0) return true;
      return `pending ${s.pending}, uploading ${s.uploading}${s.pushError ? `, push error: ${s.pushError}` : ''}`;
    },
    timeoutMs,
    everyMs,
  );
}

// ---- rclone -----------------------------------------------------------------------------------------

export async function ensureRclone(log) {
  if (await succeeds('sh', ['-c', 'command -v rclone'])) return;
  log('rclone is missing: installing the Debian package (apt-get install -y rclone)');
  await aptInstall('rclone');
}

/** apt-get install of one Debian package (as root, or with sudo -n). */
export async function aptInstall(pkg) {
  const asRoot = process.getuid() === 0 ? [] : ['sudo', '-n'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => {
    const [cmd, ...rest] = [...asRoot, ...args];
    return execFileP(cmd, rest, { env, maxBuffer: 64 << 20 });
  };
  try {
    await run(['apt-get', 'update', '-qq']);
    await run(['apt-get', 'install', '-y', '-qq', pkg]);
  } catch (err) {
    throw new Error(`could not install ${pkg}: ${firstLine(err.stderr ?? '') || err.message}`);
  }
}

/** rclone mount (bazil fuse) runs `fusermount3`: a private PATH entry where it is libfuse2's fusermount. */
async function rcloneFuseBin(work) {
  const fuseBin = path.join(work, 'fusebin');
  if (!fs.existsSync(fuseBin)) {
    fs.mkdirSync(fuseBin);
    const { stdout } = await execFileP('sh', ['-c', 'command -v fusermount3 || command -v fusermount']);
    fs.symlinkSync(stdout.trim(), path.join(fuseBin, 'fusermount3'));
  }
  return fuseBin;
}

export async function startRcloneServer(dir) {
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

/** `rclone mount :webdav,url=…:` with `flags`; `m.rcPort` answers vfs/stats. */
export async function mountRclone(srv, dir, label, flags) {
  const mnt = path.join(dir, `mnt-${label}`);
  const cacheDir = path.join(dir, `cache-${label}`);
  fs.mkdirSync(mnt, { recursive: true });
  fs.mkdirSync(cacheDir, { recursive: true });
  const rcPort = await freePort();
  const args = [
    'mount',
    `:webdav,url='${srv.url}':`,
    mnt,
    '--config',
    '/dev/null',
    '--cache-dir',
    cacheDir,
    ...flags,
    '--rc',
    '--rc-addr',
    `127.0.0.1:${rcPort}`,
    '--rc-no-auth',
  ];
  const env = { ...process.env, PATH: `${await rcloneFuseBin(dir)}:${process.env.PATH}` };
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

export const rcloneStats = (m) =>
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

/**
 * performance.now() once rclone has no upload queued or in progress and `landed()` (the backend holds
 * the new bytes: right after a close the upload may not be queued yet).
 */
export function rcloneCommitted(m, what, landed, timeoutMs = 1_800_000, everyMs = 10) {
  return pollUntil(
    `rclone: ${what} committed`,
    async () => {
      const { diskCache: c } = await rcloneStats(m);
      const queue = (c?.uploadsInProgress ?? 0) + (c?.uploadsQueued ?? 0);
      if (queue > 0) return `uploads in progress ${c.uploadsInProgress}, queued ${c.uploadsQueued}`;
      if (!(await landed())) return 'upload queue empty but the backend does not hold the new bytes yet';
      return true;
    },
    timeoutMs,
    everyMs,
  );
}
