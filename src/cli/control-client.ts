/** Finds a running mount's control socket and talks to it (used by status, pin, unpin). */
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { Agent, request } from 'undici';
import { LoftError, type ErrorCode } from '../shared/errors.js';
import {
  defaultStateDir,
  pidAlive,
  readMountRecord,
  runningMounts,
  type MountRecord,
} from '../client/state-dir.js';

/** The mount of `--state DIR` (or LOFT_STATE), else the only running mount, else the default state dir's. */
export function findMount(state: string | undefined): MountRecord {
  const dir = state ?? process.env.LOFT_STATE;
  if (dir) return mountOfState(path.resolve(dir));
  const running = runningMounts();
  if (running.length === 1) return running[0]!;
  if (running.length > 1) {
    throw new LoftError('BAD_REQUEST', `${running.length} drives are mounted; say which with --state DIR`);
  }
  return mountOfState(defaultStateDir());
}

function mountOfState(dir: string): MountRecord {
  const r = readMountRecord(dir);
  if (!r || !pidAlive(r.pid))
    throw new LoftError('NOT_FOUND', `no running loft mount uses state directory ${dir}`);
  return r;
}

/** The running mount containing `file`, and the file's path inside the drive ("/a/b"). */
export function mountOf(file: string, state: string | undefined): { mount: MountRecord; inner: string } {
  let abs: string;
  try {
    abs = realpathSync(file);
  } catch {
    throw new LoftError('NOT_FOUND', `${file} does not exist`);
  }
  const candidates = state || process.env.LOFT_STATE ? [findMount(state)] : runningMounts();
  for (const m of candidates) {
    if (abs === m.mountpoint) return { mount: m, inner: '/' };
    if (abs.startsWith(m.mountpoint + '/')) return { mount: m, inner: abs.slice(m.mountpoint.length) };
  }
  throw new LoftError('NOT_FOUND', `${file} is not inside a running loft drive`);
}

export async function control<T>(
  mount: MountRecord,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<T> {
  const agent = new Agent({ connect: { socketPath: mount.socket } });
  try {
    const res = await request(`http://loft${route}`, {
      method,
      dispatcher: agent,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const parsed = (await res.body.json()) as T & { error?: { code: ErrorCode; message: string } };
    if (res.statusCode >= 300) {
      throw new LoftError(
        parsed.error?.code ?? 'INTERNAL',
        parsed.error?.message ?? `control answered ${res.statusCode}`,
      );
    }
    return parsed;
  } catch (err) {
    if (err instanceof LoftError) throw err;
    throw new LoftError(
      'UNAVAILABLE',
      `cannot reach the loft mount (pid ${mount.pid}): ${(err as Error).message}`,
    );
  } finally {
    await agent.close();
  }
}
