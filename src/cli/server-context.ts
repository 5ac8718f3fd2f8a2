/**
 * How the CLI's verbs that talk to a server (history, restore, link, devices, search) find it and
 * talk to it, in one place: credentials come from --server/--token-file (LOFT_SERVER,
 * LOFT_TOKEN_FILE, LOFT_TOKEN), or a drive's state directory (--state, LOFT_STATE, else the default
 * one); requests go through the drive's own `RemoteClient` (one HTTP client, one error mapping,
 * certificates verified, `--ca` for a private CA). PATH arguments are cloud paths (`/docs/a.txt`)
 * or paths inside the mounted drive, mapped through the state directory's mount record.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { RemoteClient } from '../client/remote/remote-client.js';
import { defaultStateDir, readConfig, readMountRecord } from '../client/state-dir.js';
import { isLoftError, LoftError } from '../shared/errors.js';
import { caFrom, readCa, tokenFrom } from './credentials.js';

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
  /** The server's URL, without a trailing slash. */
  server: string;
  remote: RemoteClient;
  /** Mountpoint of the drive whose state directory was used, if any. */
  mountpoint: string | null;
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
  const caFile = caFrom(opts, config?.ca);
  const remote = new RemoteClient({
    url: server,
    token,
    timeoutMs: REQUEST_TIMEOUT_MS,
    connections: 4,
    ...(caFile !== undefined ? { ca: readCa(caFile) } : {}),
  });
  return { server: remote.url, remote, mountpoint: readMountRecord(state)?.mountpoint ?? null };
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

/** A JSON route of the server; a refused token says so in the CLI's words. */
export async function api<T>(
  ctx: ServerContext,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
): Promise<T> {
  try {
    return await ctx.remote.call<T>(method, route, body);
  } catch (err) {
    if (!isLoftError(err, 'UNAUTHORIZED')) throw err;
    const said = (err.details?.serverMessage as string | undefined) ?? 'unauthorized';
    throw new LoftError('UNAUTHORIZED', `the server refused the device token (${said})`, { cause: err });
  }
}
