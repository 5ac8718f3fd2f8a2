/**
 * The Loft system under test: `loft serve` and `loft mount` as real child processes, through the
 * test suite's own helpers (test/helpers/server-process.ts, mount-process.ts: one lifecycle for
 * tests and benchmarks), plus what benchmarks need on top: the control socket's /status on a
 * keep-alive connection (tight polling) and "everything committed" as a moment in time.
 * The token travels in LOFT_TOKEN, never on a command line. LOFT_BENCH_BIN runs another entry
 * point than bin/loft.js (server-process.ts reads it).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { MountProcess, type Status } from '../../../test/helpers/mount-process.js';
import { ServerProcess } from '../../../test/helpers/server-process.js';
import { unmount } from './mounts.js';
import { httpJson, pollUntil, settlesWithin, STOP_GRACE_MS, track, untrack } from './proc.js';

export { LOFT_BIN, REPO_ROOT } from '../../../test/helpers/server-process.js';
export type { Status as LoftStatus };

const MOUNT_READY_MS = 60_000;

export interface LoftServer {
  readonly process: ServerProcess;
  readonly url: string;
  /** A device token of the user `bench`. */
  readonly token: string;
  readonly dataDir: string;
  stop(): Promise<void>;
}

/** `loft serve --data DIR/server-data` on 127.0.0.1 and a user `bench`. */
export async function startLoftServer(dir: string, serveArgs: readonly string[] = []): Promise<LoftServer> {
  const dataDir = path.join(dir, 'server-data');
  fs.mkdirSync(dataDir, { recursive: true });
  const proc = new ServerProcess(dataDir, serveArgs);
  const srv: LoftServer = {
    process: proc,
    url: '',
    token: '',
    dataDir,
    stop: async () => {
      untrack(srv);
      const stopped = proc.stop();
      if (!(await settlesWithin(stopped, STOP_GRACE_MS))) await proc.kill();
    },
  };
  track(srv);
  const url = await proc.start(MOUNT_READY_MS);
  const token = await proc.addUser('bench');
  return Object.assign(srv, { url, token });
}

export interface LoftMount {
  readonly sys: 'loft';
  readonly process: MountProcess;
  readonly mnt: string;
  readonly state: string;
  readonly socket: string;
  stop(): Promise<void>;
}

const agents = new WeakMap<LoftMount, http.Agent>();

/** `loft mount DIR/LABEL/mnt --state DIR/LABEL/state`, resolved once its first sync is done. */
export async function mountLoft(
  srv: { url: string; token: string },
  dir: string,
  label: string,
  cacheSize = '2G',
  extra: readonly string[] = [],
): Promise<LoftMount> {
  const proc = new MountProcess(srv.url, srv.token, { cacheSize, root: path.join(dir, label) });
  const m: LoftMount = {
    sys: 'loft',
    process: proc,
    mnt: proc.mountpoint,
    state: proc.state,
    socket: '',
    stop: async () => {
      untrack(m);
      agents.get(m)?.destroy();
      const stopped = proc.stop();
      if (!(await settlesWithin(stopped, STOP_GRACE_MS))) await proc.stop('SIGKILL');
      if (!(await unmount(proc.mountpoint))) throw new Error(`could not unmount ${proc.mountpoint}`);
    },
  };
  track(m);
  try {
    await proc.start([...extra], MOUNT_READY_MS);
    const { socket } = JSON.parse(fs.readFileSync(path.join(proc.state, 'mount.json'), 'utf8')) as {
      socket: string;
    };
    Object.assign(m, { socket });
    agents.set(m, new http.Agent({ keepAlive: true, maxSockets: 1 }));
    await pollUntil(
      'loft first sync',
      async () => (await loftStatus(m)).synced !== false,
      MOUNT_READY_MS,
      20,
    );
  } catch (err) {
    await m.stop().catch(() => {});
    throw err;
  }
  return m;
}

/** GET /status on the mount's control socket (what `loft status --json` prints). */
export const loftStatus = (m: LoftMount): Promise<Status> =>
  httpJson<Status>({ socketPath: m.socket, path: '/status', method: 'GET', agent: agents.get(m) });

/** performance.now() once nothing is pending or uploading (everything committed on the server). */
export function loftCommitted(
  m: LoftMount,
  what: string,
  timeoutMs = 1_800_000,
  everyMs = 10,
): Promise<number> {
  return pollUntil(
    `loft: ${what} committed`,
    async () => {
      const s = await loftStatus(m);
      if (s.pending === 0 && s.uploading === 0) return true;
      const pushError = (s as Status & { pushError?: string }).pushError;
      return `pending ${s.pending}, uploading ${s.uploading}${pushError ? `, push error: ${pushError}` : ''}`;
    },
    timeoutMs,
    everyMs,
  );
}
