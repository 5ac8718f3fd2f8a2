/**
 * Several devices of one user against one real server: users and device tokens, mounts that print
 * their stderr when a test fails, waiting for a mount to settle, and the trees of the server and of
 * a mount (paths, kinds, sizes, SHA-256 of contents) to compare for convergence.
 */
import { writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Test as Tap } from 'tap';
import { Api } from './api.js';
import { sha256 } from './fixtures.js';
import { MountProcess, type Status } from './mount-process.js';
import { runLoft, type ServerProcess } from './server-process.js';

/** The write-path fields of `loft status --json` besides those `Status` types. */
export type WriteStatus = Status & {
  offlineReason: string | null;
  uploads: { path: string; size: number; toSend: number; sent: number }[];
  queue: { op: string; path: string; attempts: number; error: string | null }[];
  pushError: string | null;
  stuck: { op: string; path: string; error: string | null; since: number; attempts: number }[];
};

export interface Device {
  user: string;
  device: string;
  token: string;
  api: Api;
}

export type Tree = Record<string, { kind: 'file' | 'dir'; size: number; sha256?: string }>;

/**
 * The CLI as `dev`'s user against `server`: its token from a 0600 file in `dir` (a token never goes on
 * a command line), with the variables that would name another drive or server cleared.
 */
export function cliAs(
  server: ServerProcess,
  dir: string,
  dev: Device,
): (args: string[]) => ReturnType<typeof runLoft> {
  const tokenFile = path.join(dir, `${dev.device}.token`);
  writeFileSync(tokenFile, dev.token + '\n', { mode: 0o600 });
  return (args: string[]) =>
    runLoft([...args, '--server', server.url, '--token-file', tokenFile], {
      env: { LOFT_TOKEN: '', LOFT_STATE: '', LOFT_SERVER: '' },
    });
}

export class Devices {
  readonly mounts: MountProcess[] = [];
  /** stderr of a mount's earlier runs (`MountProcess.start` starts a new one). */
  readonly #earlier = new Map<MountProcess, string>();

  constructor(readonly server: ServerProcess) {}

  /** A new user (each test has its own tree) and the token of its first device. */
  async newUser(user: string): Promise<Device> {
    const device = `${user}-laptop`;
    const token = await this.server.addUser(user, ['--device', device]);
    return { user, device, token, api: new Api(this.server.url, token) };
  }

  /** Another device of the same user. */
  async otherDevice(of: Device, device: string): Promise<Device> {
    const token = await this.server.addToken(of.user, ['--device', device]);
    return { user: of.user, device, token, api: new Api(this.server.url, token) };
  }

  /** A mount of `dev`; when `t` fails, the mount's stderr (every run) is printed with the failure. */
  mount(t: Tap, dev: Device, url = this.server.url): MountProcess {
    const m = new MountProcess(url, dev.token, { cacheSize: '256M' });
    this.mounts.push(m);
    t.teardown(() => {
      if (t.passing()) return;
      const all = (this.#earlier.get(m) ?? '') + m.stderr;
      t.comment(`stderr of the mount of ${dev.device}:\n${all.slice(-6000)}`);
    });
    return m;
  }

  /** Starts the mount again on the same state directory (after a crash or a stop). */
  async restart(m: MountProcess): Promise<void> {
    this.#earlier.set(m, (this.#earlier.get(m) ?? '') + m.stderr + '--- restarted ---\n');
    await m.start();
  }

  async dispose(): Promise<void> {
    for (const m of this.mounts) await m.dispose().catch(() => undefined);
  }
}

export async function status(m: MountProcess): Promise<WriteStatus> {
  return (await m.statusDirect()) as WriteStatus;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | false | undefined | null>,
  ms = 20_000,
  every = 100,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Waits until every local change of the mount is committed; the error tells what was left. */
export async function settled(m: MountProcess, ms = 60_000): Promise<WriteStatus> {
  let last: WriteStatus | null = null;
  try {
    return await waitFor(
      'pending === 0',
      async () => {
        last = await status(m);
        return last.pending === 0 && last.uploading === 0 && last;
      },
      ms,
    );
  } catch (err) {
    throw new Error(
      `${(err as Error).message}; last status ${JSON.stringify(last)}; mount stderr:\n${m.stderr.slice(-3000)}`,
    );
  }
}

/** The server's live file at `p` (null when absent), read block by block through the API. */
export async function serverFile(api: Api, p: string): Promise<Buffer | null> {
  const r = await api.get(`/v1/node?path=${encodeURIComponent(p)}`);
  if (r.status === 404 || (r.status === 200 && r.body.deleted)) return null;
  if (r.status !== 200) throw new Error(`GET /v1/node ${p}: ${r.status} ${r.raw.toString()}`);
  return blocksOf(api, r.body.blocks as { hash: string; size: number }[]);
}

export async function blocksOf(api: Api, blocks: { hash: string; size: number }[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const b of blocks) {
    const r = await api.get(`/v1/blocks/${b.hash}`);
    if (r.status !== 200) throw new Error(`GET /v1/blocks/${b.hash}: ${r.status}`);
    parts.push(r.raw);
  }
  return Buffer.concat(parts);
}

export async function serverNames(api: Api, dir = '/'): Promise<string[]> {
  const r = await api.get(`/v1/list?path=${encodeURIComponent(dir)}`);
  if (r.status !== 200) throw new Error(`GET /v1/list ${dir}: ${r.status} ${r.raw.toString()}`);
  return (r.body.entries as { name: string }[]).map((e) => e.name).sort();
}

/** Every node under `dir` on the server, with sizes and content hashes. */
export async function serverTree(api: Api, dir = '/'): Promise<Tree> {
  const r = await api.get(`/v1/list?path=${encodeURIComponent(dir)}`);
  if (r.status !== 200) throw new Error(`GET /v1/list ${dir}: ${r.status} ${r.raw.toString()}`);
  const out: Tree = {};
  for (const e of r.body.entries as {
    name: string;
    kind: 'file' | 'dir';
    size: number;
    blocks?: { hash: string; size: number }[];
  }[]) {
    const p = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
    if (e.kind === 'dir') {
      out[p] = { kind: 'dir', size: 0 };
      Object.assign(out, await serverTree(api, p));
    } else {
      const data = await blocksOf(api, e.blocks ?? []);
      out[p] = { kind: 'file', size: e.size, sha256: sha256(data) };
      if (data.length !== e.size) out[p].size = -data.length; // blocks disagree with the size
    }
  }
  return out;
}

/** Every node under the mount's `rel`, with sizes and content hashes. */
export async function mountTree(root: string, rel = ''): Promise<Tree> {
  const out: Tree = {};
  for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    const p = `${rel}/${e.name}`;
    if (e.isDirectory()) {
      out[p] = { kind: 'dir', size: 0 };
      Object.assign(out, await mountTree(root, p));
    } else {
      const data = await fs.readFile(path.join(root, p));
      out[p] = { kind: 'file', size: data.length, sha256: sha256(data) };
    }
  }
  return out;
}

/**
 * `loft check --json` of a drive (running or stopped): its exit code (0 in sync, 1 not, 2 no check
 * possible) and report (null when the check could not be made; `stderr` says why).
 */
export async function checkDrive(
  m: MountProcess,
): Promise<{ code: number; report: CheckReport | null; stderr: string }> {
  const r = await runLoft(['check', '--json', '--state', m.state]);
  return {
    code: r.code,
    report: r.code === 2 ? null : (JSON.parse(r.stdout) as CheckReport),
    stderr: r.stderr,
  };
}

/** What `loft check --json` prints (README, `loft check`), the fields tests look at. */
export interface CheckReport {
  inSync: boolean;
  summary: string;
  matching: number;
  differences: { kind: string; path: string }[];
  pending: { op: string; path: string }[];
  notPulled: { path: string; rev: number; deleted: boolean }[];
  stuck: { op: string; path: string; error: string | null }[];
}
