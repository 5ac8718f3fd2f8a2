/**
 * `loft history PATH` and `loft history --deleted DIR`: version history from the server.
 *
 * Also the small server client that `loft restore` shares: credentials come from --server/--token,
 * LOFT_SERVER/LOFT_TOKEN, or a drive's state directory (--state, LOFT_STATE, else the default
 * one); PATH is a cloud path (`/docs/a.txt`) or a path inside the mounted drive, mapped to the cloud
 * path through the state directory's mount record.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { request, type Dispatcher } from 'undici';
import { agentFor, caFrom, tokenFrom } from '../credentials.js';
import { defaultStateDir, readConfig, readMountRecord } from '../../client/state-dir.js';
import { LoftError, type ErrorCode } from '../../shared/errors.js';
import type { DeletedEntry, Revision } from '../../shared/protocol.js';
import { formatBytes } from '../../shared/size.js';
import { table, when } from './table.js';

/** One request should never take long; a stuck server is reported rather than waited on. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface ServerOptions {
  server?: string;
  token?: string;
  tokenFile?: string;
  ca?: string;
  state?: string;
}

export interface ServerContext {
  server: string;
  token: string;
  /** Mountpoint of the drive whose state directory was used, if any. */
  mountpoint: string | null;
  /** Verifies an https server against a private CA too (--ca); undefined: the system's CAs. */
  dispatcher?: Dispatcher | undefined;
}

export function serverOptions(c: Command): Command {
  return c
    .option('--server <url>', 'server URL (env LOFT_SERVER)')
    .option('--token <token>', 'device token (visible in ps: prefer --token-file or LOFT_TOKEN)')
    .option('--token-file <file>', 'read the device token from FILE (env LOFT_TOKEN_FILE)')
    .option('--ca <file>', 'PEM of a private CA to trust for an https server (env LOFT_CA)')
    .option('--state <dir>', "a drive's state directory to take server and token from (env LOFT_STATE)");
}

export function resolveServer(opts: ServerOptions): ServerContext {
  // An empty variable counts as unset.
  const env = (name: string) => process.env[name] || undefined;
  const stateDir = opts.state ?? env('LOFT_STATE');
  const state = path.resolve(stateDir ?? defaultStateDir());
  const config = readConfig(state);
  if (stateDir && !config)
    throw new LoftError('NOT_FOUND', `state directory ${state} holds no server and token (mount once first)`);
  const server = opts.server ?? env('LOFT_SERVER') ?? config?.server;
  const token = tokenFrom(opts) ?? config?.token;
  if (!server || !token) {
    throw new LoftError(
      'BAD_REQUEST',
      'which server? give --server URL and --token-file FILE (or LOFT_SERVER, LOFT_TOKEN), or --state DIR of a drive',
    );
  }
  return {
    server: server.replace(/\/+$/, ''),
    token,
    mountpoint: readMountRecord(state)?.mountpoint ?? null,
    dispatcher: agentFor(caFrom(opts, config?.ca)),
  };
}

/** The cloud path for PATH: itself, or mapped from a path inside the mounted drive. */
export function cloudPath(ctx: ServerContext, file: string): string {
  const abs = path.resolve(file);
  const mnt = ctx.mountpoint;
  if (mnt && (abs === mnt || abs.startsWith(mnt + '/'))) return abs === mnt ? '/' : abs.slice(mnt.length);
  if (!file.startsWith('/')) {
    throw new LoftError(
      'BAD_PATH',
      `${file}: give a cloud path (/docs/a.txt) or a path inside the mounted drive`,
    );
  }
  return file;
}

export async function api<T>(
  ctx: ServerContext,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
): Promise<T> {
  let res;
  try {
    res = await request(ctx.server + route, {
      method,
      ...(ctx.dispatcher ? { dispatcher: ctx.dispatcher } : {}),
      headers: {
        authorization: `Bearer ${ctx.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
  } catch (err) {
    throw new LoftError('UNAVAILABLE', `cannot reach ${ctx.server}: ${(err as Error).message}`);
  }
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (res.statusCode >= 300) {
    const e = (parsed as { error?: { code?: ErrorCode; message?: string } } | undefined)?.error;
    throw new LoftError(e?.code ?? 'INTERNAL', e?.message ?? `server answered ${res.statusCode}`, {
      details: (e ?? {}) as Record<string, unknown>,
    });
  }
  return parsed as T;
}

const q = encodeURIComponent;

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/**
 * The history of the node at `cloud`: the live node there, else the most recently deleted one that
 * had this path (looked up in the deleted listing of the nearest live ancestor).
 */
export async function historyOf(
  ctx: ServerContext,
  cloud: string,
): Promise<{ id: number; path: string; revisions: Revision[] }> {
  try {
    const r = await api<{ revisions: Revision[] }>(ctx, 'GET', `/v1/revisions?path=${q(cloud)}`);
    return { id: r.revisions[0]!.id, path: cloud, revisions: r.revisions };
  } catch (err) {
    if (!(err instanceof LoftError) || err.code !== 'NOT_FOUND') throw err;
  }
  for (let dir = parentOf(cloud); ; dir = parentOf(dir)) {
    try {
      const d = await api<{ entries: DeletedEntry[] }>(ctx, 'GET', `/v1/deleted?path=${q(dir)}&limit=10000`);
      const hits = d.entries.filter((e) => e.path === cloud).sort((a, b) => b.rev - a.rev);
      if (!hits.length) break;
      const r = await api<{ revisions: Revision[] }>(ctx, 'GET', `/v1/revisions?id=${hits[0]!.id}`);
      return { id: hits[0]!.id, path: cloud, revisions: r.revisions };
    } catch (err) {
      if (!(err instanceof LoftError) || (err.code !== 'NOT_FOUND' && err.code !== 'NOT_DIR')) throw err;
      if (dir === '/') break;
    }
  }
  throw new LoftError('NOT_FOUND', `${cloud}: no such file, now or in the kept history`);
}

interface HistoryOptions extends ServerOptions {
  deleted?: boolean;
  json?: boolean;
}

async function history(file: string, opts: HistoryOptions): Promise<void> {
  const ctx = resolveServer(opts);
  const cloud = cloudPath(ctx, file);
  if (opts.deleted) {
    const d = await api<{ entries: DeletedEntry[]; truncated: boolean }>(
      ctx,
      'GET',
      `/v1/deleted?path=${q(cloud)}&limit=10000`,
    );
    if (opts.json) {
      process.stdout.write(JSON.stringify(d) + '\n');
      return;
    }
    if (!d.entries.length) {
      process.stdout.write(`nothing deleted below ${cloud} in the kept history\n`);
      return;
    }
    const rows = [['DELETED', 'SIZE', 'LAST REV', 'BY', 'PATH']];
    for (const e of d.entries) {
      rows.push([
        when(e.deletedAt),
        e.kind === 'dir' ? 'dir' : formatBytes(e.size),
        e.lastRev === null ? '-' : String(e.lastRev),
        e.device ?? '-',
        e.path + (e.kind === 'dir' ? '/' : ''),
      ]);
    }
    process.stdout.write(table(rows));
    if (d.truncated) process.stdout.write(`… more not shown (list a directory further down)\n`);
    return;
  }
  const h = await historyOf(ctx, cloud);
  const last = h.revisions[h.revisions.length - 1]!;
  const revisions = h.revisions.map((r) => ({
    rev: r.rev,
    time: r.time,
    size: r.size,
    device: r.device,
    op: r.op,
    deleted: r.deleted,
    current: r === last,
    ...(r.restoredFrom !== undefined ? { restoredFrom: r.restoredFrom } : {}),
    name: r.name,
  }));
  if (opts.json) {
    process.stdout.write(JSON.stringify({ id: h.id, path: h.path, deleted: last.deleted, revisions }) + '\n');
    return;
  }
  const rows = [['REV', 'TIME', 'SIZE', 'DEVICE', 'CHANGE']];
  for (const r of revisions) {
    const notes = [
      r.deleted ? 'DELETED' : r.op,
      r.restoredFrom !== undefined ? `restored from rev ${r.restoredFrom}` : '',
      r.current && !r.deleted ? '(current)' : '',
    ].filter(Boolean);
    rows.push([
      String(r.rev),
      when(r.time),
      r.deleted ? '-' : formatBytes(r.size),
      r.device ?? '-',
      notes.join(' '),
    ]);
  }
  process.stdout.write(`${h.path}${last.deleted ? ' (deleted)' : ''}\n` + table(rows));
}

export function registerHistory(program: Command): void {
  serverOptions(
    program
      .command('history <path>')
      .description(
        'revisions of a file (time, size, device), deleted files included; --deleted DIR lists deleted files',
      )
      .option('--deleted', 'list deleted files and directories below the directory PATH')
      .option('--json', 'print one JSON object'),
  ).action((file: string, opts: HistoryOptions) => history(file, opts));
}
