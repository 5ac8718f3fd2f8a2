/**
 * The rclone system under test: `rclone serve webdav` of a local directory and `rclone mount` of it,
 * with its remote control answering vfs/stats. rclone is optional: where it is not installed a
 * bench says "not installed" in its table (`rcloneInstalled()`), it never fails for it.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from '../../../test/helpers/free-port.js';
import { isMounted, unmount } from './mounts.js';
import {
  alive,
  execFileP,
  firstLine,
  httpJson,
  installed,
  killChild,
  pollUntil,
  startChild,
  succeeds,
  track,
  untrack,
  waitForOutput,
  type Child,
} from './proc.js';

const MOUNT_READY_MS = 60_000;
/** What a table says in rclone's columns where rclone is missing. */
export const NOT_INSTALLED = 'not installed';

export const rcloneInstalled = (): Promise<boolean> => installed('rclone');

/** `rclone version`'s first line, or NOT_INSTALLED. */
export const rcloneVersion = async (): Promise<string> =>
  (await rcloneInstalled())
    ? firstLine((await execFileP('rclone', ['version'])).stdout)
    : `rclone ${NOT_INSTALLED}`;

export interface RcloneServer {
  readonly child: Child;
  readonly url: string;
  /** The directory it serves. */
  readonly backend: string;
  stop(): Promise<void>;
}

/** `rclone serve webdav DIR/backend` (or `backend`) on 127.0.0.1, `extra` flags appended. */
export async function startRcloneServer(
  dir: string,
  { backend = path.join(dir, 'backend'), extra = [] }: { backend?: string; extra?: readonly string[] } = {},
): Promise<RcloneServer> {
  fs.mkdirSync(backend, { recursive: true });
  const child = startChild('rclone serve webdav', 'rclone', [
    'serve',
    'webdav',
    backend,
    '--addr',
    '127.0.0.1:0',
    '--config',
    '/dev/null',
    ...extra,
  ]);
  const srv: RcloneServer = {
    child,
    url: '',
    backend,
    stop: async () => {
      untrack(srv);
      await killChild(child);
    },
  };
  track(srv);
  const [, url] = await waitForOutput(
    child,
    'stderr',
    /WebDav Server started on (http:\/\/127\.0\.0\.1:\d+\/?)/,
    'rclone serve webdav start-up',
  );
  return Object.assign(srv, { url: url! });
}

export interface RcloneMount {
  readonly sys: 'rclone';
  readonly child: Child;
  readonly mnt: string;
  /** Its --cache-dir. */
  readonly state: string;
  readonly rcPort: number;
  stop(): Promise<void>;
}

/** rclone mount (bazil fuse) runs `fusermount3`: a private PATH entry where it is libfuse2's fusermount. */
async function fuseBinDir(work: string): Promise<string> {
  const dir = path.join(work, 'fusebin');
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir);
    const { stdout } = await execFileP('sh', ['-c', 'command -v fusermount3 || command -v fusermount']);
    fs.symlinkSync(stdout.trim(), path.join(dir, 'fusermount3'));
  }
  return dir;
}

const agents = new WeakMap<RcloneMount, http.Agent>();

/** `rclone mount :webdav,url=…: DIR/mnt-LABEL` with `flags`; `m.rcPort` answers vfs/stats. */
export async function mountRclone(
  srv: { url: string },
  dir: string,
  label: string,
  flags: readonly string[],
): Promise<RcloneMount> {
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
  const env = { ...process.env, PATH: `${await fuseBinDir(dir)}:${process.env.PATH}` };
  const child = startChild(`rclone mount ${label}`, 'rclone', args, { env });
  const m: RcloneMount = {
    sys: 'rclone',
    child,
    mnt,
    state: cacheDir,
    rcPort,
    stop: async () => {
      untrack(m);
      agents.get(m)?.destroy();
      await killChild(child);
      if (!(await unmount(mnt))) throw new Error(`could not unmount ${mnt}`);
    },
  };
  agents.set(m, new http.Agent({ keepAlive: true, maxSockets: 1 }));
  track(m);
  try {
    await pollUntil(
      `rclone mount ${label}`,
      async () => {
        if (!alive(child))
          throw new Error(firstLine(child.stderr) || `rclone mount exited with ${child.exit}`);
        if (!(await succeeds('mountpoint', ['-q', mnt])))
          return `mountpoint: ${isMounted(mnt) ? 'yes' : 'no'}; rclone: ${firstLine(child.stderr) || 'no output'}`;
        return rcloneStats(m).then(
          () => true,
          () => 'remote control not answering',
        );
      },
      MOUNT_READY_MS,
      50,
    );
  } catch (err) {
    await m.stop().catch(() => {});
    throw err;
  }
  return m;
}

/** The parts of vfs/stats the benches read. */
export interface RcloneStats {
  diskCache?: { uploadsInProgress?: number; uploadsQueued?: number; bytesUsed?: number };
}

export const rcloneStats = (m: RcloneMount): Promise<RcloneStats> =>
  httpJson<RcloneStats>(
    {
      host: '127.0.0.1',
      port: m.rcPort,
      path: '/vfs/stats',
      method: 'POST',
      agent: agents.get(m),
      headers: { 'content-type': 'application/json' },
    },
    '{}',
  );

/**
 * performance.now() once rclone has no upload queued or in progress and `landed()` (the backend holds
 * the new bytes: right after a close the upload may not be queued yet).
 */
export function rcloneCommitted(
  m: RcloneMount,
  what: string,
  landed: () => Promise<boolean>,
  timeoutMs = 1_800_000,
  everyMs = 10,
): Promise<number> {
  return pollUntil(
    `rclone: ${what} committed`,
    async () => {
      const { diskCache: c } = await rcloneStats(m);
      const queue = (c?.uploadsInProgress ?? 0) + (c?.uploadsQueued ?? 0);
      if (queue > 0) return `uploads in progress ${c?.uploadsInProgress}, queued ${c?.uploadsQueued}`;
      if (!(await landed())) return 'upload queue empty but the backend does not hold the new bytes yet';
      return true;
    },
    timeoutMs,
    everyMs,
  );
}
