/**
 * Starts a real `loft serve` child process on loopback for integration tests, with its own data
 * directory, and creates users through the real `loft user add` command.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (this file is compiled to dist/test/helpers/). */
export const REPO_ROOT = path.resolve(here, '../../..');
/** LOFT_BENCH_BIN: another entry point, for the benchmarks that reuse these helpers (scripts/bench/lib). */
export const LOFT_BIN = process.env.LOFT_BENCH_BIN
  ? path.resolve(process.env.LOFT_BENCH_BIN)
  : path.join(REPO_ROOT, 'bin', 'loft.js');

const execFileP = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `loft ARGS…` to completion. Never throws on a non-zero exit. */
export async function runLoft(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [LOFT_BIN, ...args], {
      env: { ...process.env, ...options.env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export class ServerProcess {
  readonly dataDir: string;
  #child: ChildProcess | null = null;
  /** What the server wrote on stderr (its log) since the last start. */
  stderr = '';
  #url = '';
  #port = 0;
  #ownsDir: boolean;

  /** `serveArgs`: more `loft serve` options (e.g. the GC's). */
  constructor(
    dataDir?: string,
    readonly serveArgs: readonly string[] = [],
  ) {
    this.#ownsDir = !dataDir;
    this.dataDir = dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'loft-server-'));
  }

  get url(): string {
    return this.#url;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Starts the server; after a restart it reuses the same port so clients can reconnect.
   * `timeoutMs`: how long it may take to say it listens (a loaded machine and the AWS SDK: more).
   */
  async start(timeoutMs = 20_000): Promise<string> {
    const listen = `127.0.0.1:${this.#port}`;
    const child = spawn(
      process.execPath,
      [LOFT_BIN, 'serve', '--data', this.dataDir, '--listen', listen, ...this.serveArgs],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.#child = child;
    this.stderr = '';
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.#url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`server did not start in ${timeoutMs / 1000} s: ${this.stderr}`)),
        timeoutMs,
      );
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (https?:\/\/\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server exited with ${code}: ${this.stderr}`));
      });
    });
    this.#port = Number(new URL(this.#url).port);
    return this.#url;
  }

  /** True while the process runs. */
  get alive(): boolean {
    return !!this.#child && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Creates a user with the real CLI and returns its device token. */
  async addUser(name: string, extra: string[] = []): Promise<string> {
    const r = await runLoft(['user', 'add', name, '--data', this.dataDir, ...extra]);
    if (r.code !== 0) throw new Error(`loft user add failed: ${r.stderr}`);
    return r.stdout.trim().split('\n').pop()!;
  }

  async addToken(name: string, extra: string[] = []): Promise<string> {
    const r = await runLoft(['user', 'token', name, '--data', this.dataDir, ...extra]);
    if (r.code !== 0) throw new Error(`loft user token failed: ${r.stderr}`);
    return r.stdout.trim().split('\n').pop()!;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill(signal);
    return exited;
  }

  async kill(): Promise<void> {
    await this.stop('SIGKILL');
  }

  async dispose(): Promise<void> {
    await this.stop();
    if (this.#ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
