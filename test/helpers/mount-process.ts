/**
 * Runs a real `loft mount` child process for integration tests and reads its status through the
 * real `loft status --json` command. Teardown always leaves no mount behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { LOFT_BIN, runLoft } from './server-process.js';

export interface Status {
  /** The FUSE backend and what it negotiated (src/client/fuse/*: info()). */
  fuse: { backend: string; why: string; allowOther: boolean } & Record<string, unknown>;
  online: boolean;
  pending: number;
  uploading: number;
  uploadedBytes: number;
  chunkedAhead: { started: number; used: number; sentBytes: number };
  downloadedBytes: number;
  /** Where demanded blocks came from; `ranged`: reads served by fetching only their pieces. */
  served: { memory: number; disk: number; inFlight: number; fetched: number; ranged: number };
  cache: { usedBytes: number; capBytes: number; blocks: number; writing: number };
  pins: { files: number; totalBytes: number; cachedBytes: number; hydrating: boolean; error: string | null };
  conflicts: string[];
  cursor: string;
  files: number;
  synced: boolean;
}

export function isMounted(dir: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

export function forceUnmount(dir: string): void {
  if (!isMounted(dir)) return;
  try {
    execFileSync('fusermount', ['-uz', dir], { stdio: 'ignore' });
  } catch {
    // already gone
  }
}

/** Mounts started by this process and not stopped yet (see leftBehind). */
const live = new Set<{ child: ChildProcess; mountpoint: string }>();

/**
 * The safety net for a test process that ends without stopping its mounts (an uncaught error, or
 * tap's SIGTERM on a timeout): its `loft mount` children are killed and their mountpoints detached,
 * so no stale mount (ENOTCONN) is left for later tests. Mounts a test stopped are already gone
 * (detaching them again is a no-op); a SIGTERM is passed on once the mounts are gone.
 */
function leftBehind(): void {
  for (const m of live) {
    if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
    forceUnmount(m.mountpoint);
  }
  live.clear();
}
let netInstalled = false;
function installNet(): void {
  if (netInstalled) return;
  netInstalled = true;
  process.on('exit', leftBehind);
  const onTerm = (): void => {
    leftBehind();
    process.removeListener('SIGTERM', onTerm);
    process.kill(process.pid, 'SIGTERM');
  };
  process.on('SIGTERM', onTerm);
}

export class MountProcess {
  readonly root: string;
  readonly mountpoint: string;
  readonly state: string;
  #child: ChildProcess | null = null;
  stderr = '';
  /** The FUSE backend the last start() mounted through (lowlevel, fuse-native). */
  backend: string | null = null;

  constructor(
    readonly server: string,
    readonly token: string,
    readonly options: { cacheSize?: string; root?: string; state?: string } = {},
  ) {
    this.root = options.root ?? mkdtempSync(path.join(os.tmpdir(), 'loft-mount-'));
    this.mountpoint = path.join(this.root, 'mnt');
    this.state = options.state ?? path.join(this.root, 'state');
    try {
      mkdirSync(this.mountpoint, { recursive: true });
    } catch (err) {
      // A stale mount left by a crash answers ENOTCONN: the directory is there.
      if ((err as NodeJS.ErrnoException).code !== 'ENOTCONN') throw err;
    }
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts `loft mount` and resolves once it reports the mount; rejects with its stderr otherwise. */
  /** `timeoutMs`: how long the mount may take to come up (a saturated machine: more). */
  async start(extra: string[] = [], timeoutMs = 30_000): Promise<void> {
    const args = [LOFT_BIN, 'mount', this.mountpoint, '--server', this.server, '--state', this.state];
    if (this.options.cacheSize) args.push('--cache-size', this.options.cacheSize);
    // The token through the environment: a command line is visible to every local user in ps.
    const child = spawn(process.execPath, [...args, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOFT_TOKEN: this.token },
    });
    this.#child = child;
    installNet();
    live.add({ child, mountpoint: this.mountpoint });
    this.stderr = '';
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`mount did not come up in ${timeoutMs / 1000} s: ${this.stderr}`)),
        timeoutMs,
      );
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('mounted at')) {
          clearTimeout(timer);
          // The FUSE binding serving it (the startup line says which): a suite run for one backend
          // (LOFT_FUSE_BACKEND, see scripts/test) must not pass on the other.
          this.backend = /; fuse ([\w-]+)\)/.exec(out)?.[1] ?? null;
          const want = process.env.LOFT_FUSE_BACKEND;
          if (want && this.backend !== want)
            reject(new Error(`mounted through ${this.backend}, not ${want}`));
          else resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`loft mount exited with ${code}: ${this.stderr.trim()}`));
      });
    });
  }

  async status(): Promise<Status> {
    const r = await runLoft(['status', '--json', '--state', this.state]);
    if (r.code !== 0) throw new Error(`loft status failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Status;
  }

  /** Path inside the mount. */
  p(rel: string): string {
    return path.join(this.mountpoint, rel);
  }

  /** Status straight from the control socket (no CLI process: for tight polling loops). */
  async statusDirect(): Promise<Status> {
    const { socket } = JSON.parse(readFileSync(path.join(this.state, 'mount.json'), 'utf8')) as {
      socket: string;
    };
    const agent = new Agent({ connect: { socketPath: socket } });
    try {
      const res = await request('http://loft/status', { dispatcher: agent });
      return (await res.body.json()) as Status;
    } finally {
      await agent.close();
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    const code = await exited;
    return code;
  }

  /** Resolves with the exit code once the process ends by itself; rejects after `ms`. */
  async exited(ms = 15_000): Promise<number | null> {
    const child = this.#child;
    if (!child) return null;
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`loft mount still running after ${ms} ms`)), ms);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** kill -9: leaves a stale FUSE mount behind, as a crash would. */
  async crash(): Promise<void> {
    await this.stop('SIGKILL');
  }

  async dispose(): Promise<void> {
    await this.stop();
    forceUnmount(this.mountpoint);
    if (!this.options.root) rmSync(this.root, { recursive: true, force: true });
  }
}
