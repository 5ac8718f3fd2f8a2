/**
 * `loft link PATH [--expires 7d] [--password]`, `loft link list`, `loft link revoke ID|URL`: share
 * links (README, "Sharing"). Credentials as `loft history` finds them (a path inside a mount,
 * --state, or --server with --token-file / LOFT_TOKEN).
 *
 * The password is never an argument (`ps` would show it): it is read from the terminal without
 * echo, or from the first line of stdin when stdin is not a terminal.
 */
import type { Command } from 'commander';
import { LoftError } from '../../shared/errors.js';
import { parseDuration } from '../../shared/size.js';
import { api, cloudPath, resolveServer, serverOptions, type ServerOptions } from '../server-context.js';
import { table, when } from './table.js';

interface LinkOptions extends ServerOptions {
  expires?: string;
  password?: boolean;
  json?: boolean;
}

interface LinkInfo {
  id: number;
  path: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  hasPassword: boolean;
  live: boolean;
}

/** Reads a password: the terminal without echo, or the first line of stdin. */
export async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  let password: string;
  if (stdin.isTTY) {
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    password = await new Promise<string>((resolve, reject) => {
      let buf = '';
      const onData = (d: Buffer) => {
        for (const ch of d.toString('utf8')) {
          if (ch === '\r' || ch === '\n') return done(null);
          if (ch === '\u0003') return done(new LoftError('BAD_REQUEST', 'cancelled'));
          if (ch === '\u007f') buf = buf.slice(0, -1);
          else buf += ch;
        }
      };
      const done = (err: Error | null) => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write('\n');
        if (err) reject(err);
        else resolve(buf);
      };
      stdin.on('data', onData);
      stdin.resume();
    });
  } else {
    const chunks: Buffer[] = [];
    for await (const c of stdin) chunks.push(c as Buffer);
    password = Buffer.concat(chunks).toString('utf8').split('\n')[0]!.replace(/\r$/, '');
  }
  if (!password) throw new LoftError('BAD_REQUEST', 'empty password (give one on stdin or at the prompt)');
  return password;
}

async function makeLink(file: string, opts: LinkOptions): Promise<void> {
  const ctx = resolveServer(opts);
  const cloud = cloudPath(ctx, file);
  const expiresInMs = opts.expires === undefined ? undefined : parseDuration(opts.expires);
  if (expiresInMs !== undefined && expiresInMs <= 0)
    throw new LoftError('BAD_REQUEST', '--expires must be a positive duration (7d, 12h)');
  const password = opts.password ? await readPassword('Password for the link: ') : undefined;
  const r = await api<{ id: number; path: string; kind: string; expiresAt: number | null }>(
    ctx,
    'POST',
    '/v1/links',
    { path: cloud, ...(expiresInMs !== undefined ? { expiresInMs } : {}), ...(password ? { password } : {}) },
  );
  const url = ctx.server + r.path;
  if (opts.json) {
    process.stdout.write(
      JSON.stringify({ id: r.id, path: cloud, kind: r.kind, expiresAt: r.expiresAt, url }) + '\n',
    );
    return;
  }
  process.stdout.write(
    `link ${r.id} to the ${r.kind === 'dir' ? 'folder' : 'file'} ${cloud}` +
      `${r.expiresAt !== null ? `, expires ${when(r.expiresAt)}` : ''}${password ? ', with a password' : ''}` +
      ` (shown once; revoke with "loft link revoke ${r.id}"):\n`,
  );
  // The URL alone on the last line, for scripts (`| tail -n1`).
  process.stdout.write(url + '\n');
}

async function listLinks(opts: LinkOptions): Promise<void> {
  const ctx = resolveServer(opts);
  const { links } = await api<{ links: LinkInfo[] }>(ctx, 'GET', '/v1/links');
  if (opts.json) {
    process.stdout.write(JSON.stringify({ links }) + '\n');
    return;
  }
  if (!links.length) {
    process.stdout.write('no links\n');
    return;
  }
  const rows = [['ID', 'CREATED', 'EXPIRES', 'PASSWORD', 'STATE', 'PATH']];
  for (const l of links) {
    const state =
      l.revokedAt !== null ? 'revoked' : l.path === null ? 'deleted' : l.live ? 'live' : 'expired';
    rows.push([
      String(l.id),
      when(l.createdAt),
      l.expiresAt === null ? 'never' : when(l.expiresAt),
      l.hasPassword ? 'yes' : 'no',
      state,
      l.path ?? '-',
    ]);
  }
  process.stdout.write(table(rows));
}

async function revokeLink(which: string, opts: LinkOptions): Promise<void> {
  const ctx = resolveServer(opts);
  let body: { id: number } | { secret: string };
  if (/^[1-9][0-9]{0,14}$/.test(which)) body = { id: Number(which) };
  else {
    const m = /\/s\/([A-Za-z0-9_-]+)\/?(?:[?#].*)?$/.exec(which);
    if (!m) throw new LoftError('BAD_REQUEST', 'give a link id (loft link list) or the URL of the link');
    body = { secret: m[1]! };
  }
  const r = await api<{ revoked: number }>(ctx, 'POST', '/v1/links/revoke', body);
  process.stdout.write(`link ${r.revoked} revoked\n`);
}

export function registerLink(program: Command): void {
  const link = serverOptions(
    program
      .command('link')
      .argument('<path>', 'a cloud path (/docs/a.txt) or a path inside the mounted drive')
      .description('make a share link to a file or folder; prints its URL on the last line')
      .option('--expires <duration>', 'the link stops working after this long (7d, 12h)')
      .option('--password', 'ask for a password (read from the terminal, or stdin when not one)')
      .option('--json', 'print one JSON object'),
  ).action((file: string, opts: LinkOptions) => makeLink(file, opts));
  serverOptions(
    link
      .command('list')
      .description('your share links (ID, expiry, state, path)')
      .option('--json', 'print JSON'),
  ).action((_opts: LinkOptions, cmd: Command) => listLinks(cmd.optsWithGlobals<LinkOptions>()));
  serverOptions(
    link.command('revoke <id-or-url>').description('revoke a share link at once, by id or URL'),
  ).action((which: string, _opts: LinkOptions, cmd: Command) =>
    revokeLink(which, cmd.optsWithGlobals<LinkOptions>()),
  );
}
