/**
 * Child processes of a benchmark (servers, mounts, the commands it times), and the registry that
 * `shutdown()` empties: every child this module started is killed and every registered resource
 * (mount, server) closed on exit, error or Ctrl-C (`runBench`, main.ts).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);
/** SIGTERM → exit, before SIGKILL. */
export const STOP_GRACE_MS = 15_000;

export const firstLine = (text: unknown): string =>
  String(text ?? '')
    .split('\n')
    .map((l) => l.trim())
    .find(Boolean) ?? '';

/** The message of anything thrown. */
export const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  stdout: string;
  stderr: string;
  /** Exit code or signal; null while it runs. */
  exit: number | string | null;
  readonly closed: Promise<void>;
}

const OUTPUT_KEPT = 1 << 20;
const children = new Set<Child>();

export function startChild(
  name: string,
  cmd: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Child {
  const proc = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  let onClosed: () => void = () => {};
  const c: Child = {
    name,
    proc,
    stdout: '',
    stderr: '',
    exit: null,
    closed: new Promise<void>((resolve) => (onClosed = resolve)),
  };
  proc.stdout!.on('data', (d: Buffer) => {
    if (c.stdout.length < OUTPUT_KEPT) c.stdout += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    if (c.stderr.length < OUTPUT_KEPT) c.stderr += d.toString();
  });
  proc.once('error', (err) => {
    c.stderr += `${err.message}\n`;
    c.exit ??= 'spawn error';
    children.delete(c);
    onClosed();
  });
  proc.once('close', (code, signal) => {
    c.exit ??= code ?? signal;
    children.delete(c);
    onClosed();
  });
  children.add(c);
  return c;
}

export const alive = (c: Child): boolean => c.exit === null;

/**
 * True when `p` settles within `ms`, false otherwise. The timer is cleared as soon as `p` settles:
 * a bare `Promise.race([p, sleep(ms)])` keeps the event loop (and so the bench's exit) waiting for
 * the whole `ms` even after `p` won.
 */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export async function killChild(c: Child, graceMs = STOP_GRACE_MS): Promise<void> {
  if (!alive(c)) return;
  c.proc.kill('SIGTERM');
  if (await settlesWithin(c.closed, graceMs)) return;
  c.proc.kill('SIGKILL');
  await c.closed;
}

/** True when `cmd args` exits 0 within 10 s. */
export const succeeds = (cmd: string, args: readonly string[]): Promise<boolean> =>
  execFileP(cmd, args, { timeout: 10_000 }).then(
    () => true,
    () => false,
  );

/** True when `name` is a command on PATH. */
export const installed = (name: string): Promise<boolean> =>
  succeeds('sh', ['-c', `command -v ${JSON.stringify(name)}`]);

export async function waitForOutput(
  child: Child,
  stream: 'stdout' | 'stderr',
  re: RegExp,
  what: string,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const m = re.exec(child[stream]);
    if (m) return m;
    if (!alive(child)) throw new Error(`${child.name} exited (${child.exit}): ${firstLine(child.stderr)}`);
    if (performance.now() > deadline) throw new Error(`${what}: nothing after ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

/**
 * Polls `done()` every `everyMs` until it returns true; returns performance.now() of that moment.
 * A string from `done()` says why it is not done yet (shown on timeout).
 */
export async function pollUntil(
  what: string,
  done: () => Promise<boolean | string> | boolean | string,
  timeoutMs: number,
  everyMs = 10,
): Promise<number> {
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

/** One HTTP request answered 200 with JSON (a unix socket or loopback port, per `options`). */
export function httpJson<T = unknown>(options: http.RequestOptions, body?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        if (res.statusCode !== 200)
          return reject(new Error(`${options.path} -> ${res.statusCode}: ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text) as T);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${options.path}: no answer in 10 s`)));
    req.end(body);
  });
}

/** What `timed()` saw: performance.now() at start and end, exit code, stderr. */
export interface Timed {
  start: number;
  end: number;
  code: number | null;
  stderr: string;
}

/**
 * Runs a command to its end and times it (stdout dropped). Rejects with its first stderr line when
 * its exit code is not in `okCodes`, or after `timeoutMs` (killed).
 */
export function timed(
  cmd: string,
  args: readonly string[],
  {
    okCodes = [0],
    timeoutMs = 1_800_000,
    cwd,
  }: { okCodes?: number[]; timeoutMs?: number; cwd?: string } = {},
): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', reject);
    p.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== null && okCodes.includes(code))
        resolve({ start: t0, end: performance.now(), code, stderr: err });
      else reject(new Error(`${cmd} ${args.join(' ')}: ${code ?? signal}: ${firstLine(err)}`));
    });
  });
}

// ---- the registry that shutdown() empties -----------------------------------------------------------

/** Something a bench started that must be stopped on exit (a mount, a server). */
export interface Stoppable {
  stop(): Promise<void>;
}
const resources = new Set<Stoppable>();

export function track<T extends Stoppable>(r: T): T {
  resources.add(r);
  return r;
}
export function untrack(r: Stoppable): void {
  resources.delete(r);
}

/** Stops every tracked resource (newest first) and kills every child this module started. */
export async function shutdown(): Promise<void> {
  for (const r of [...resources].reverse()) {
    await r.stop().catch(() => {});
    resources.delete(r);
  }
  for (const c of [...children]) await killChild(c, 5000);
}

/** Resolves with the promise's value, or tears things down with onTimeout and rejects after ms. */
export async function withTimeout<T>(
  ms: number,
  what: string,
  promise: Promise<T>,
  onTimeout?: () => Promise<unknown>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
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
