/**
 * `loft share PATH --with USER [--role viewer|editor]`, `loft share list [PATH]`,
 * `loft share remove PATH --with USER`, `loft share leave PATH`: shared folders (README,
 * "Sharing"). Credentials as `loft history` finds them (a path inside a mount, --state, or
 * --server with --token-file / LOFT_TOKEN).
 */
import type { Command } from 'commander';
import { LoftError } from '../../shared/errors.js';
import { api, cloudPath, resolveServer, serverOptions, type ServerOptions } from '../server-context.js';
import { table } from './table.js';

interface ShareOptions extends ServerOptions {
  with?: string;
  role?: string;
  json?: boolean;
}

interface Share {
  ns: number;
  path: string;
  role: string;
  owner: string;
  members: { user: string; role: string }[];
}

function members(s: Share): string {
  return s.members.map((m) => `${m.user} (${m.role})`).join(', ');
}

function needWith(opts: ShareOptions): string {
  if (!opts.with) throw new LoftError('BAD_REQUEST', 'give the user with --with USER');
  return opts.with;
}

async function share(file: string, opts: ShareOptions): Promise<void> {
  const role = opts.role ?? 'editor';
  if (role !== 'viewer' && role !== 'editor')
    throw new LoftError('BAD_REQUEST', `--role must be viewer or editor, not ${role}`);
  const ctx = resolveServer(opts);
  const s = await api<Share>(ctx, 'POST', '/v1/shares', {
    path: cloudPath(ctx, file),
    with: needWith(opts),
    role,
  });
  if (opts.json) return void process.stdout.write(JSON.stringify(s) + '\n');
  process.stdout.write(`${s.path} is shared with ${opts.with} (${role}); members: ${members(s)}\n`);
}

async function list(file: string | undefined, opts: ShareOptions): Promise<void> {
  const ctx = resolveServer(opts);
  let { shares } = await api<{ shares: Share[] }>(ctx, 'GET', '/v1/shares');
  if (file !== undefined) {
    const at = cloudPath(ctx, file);
    shares = shares.filter((s) => s.path === at);
    if (!shares.length) throw new LoftError('NOT_FOUND', `${at} is not a shared folder`);
  }
  if (opts.json) return void process.stdout.write(JSON.stringify({ shares }) + '\n');
  if (!shares.length) return void process.stdout.write('no shared folders\n');
  const rows = [['PATH', 'ROLE', 'OWNER', 'MEMBERS']];
  for (const s of shares) rows.push([s.path, s.role, s.owner, members(s)]);
  process.stdout.write(table(rows));
}

async function remove(file: string, opts: ShareOptions): Promise<void> {
  const ctx = resolveServer(opts);
  const who = needWith(opts);
  const s = await api<Share>(ctx, 'POST', '/v1/shares/remove', { path: cloudPath(ctx, file), with: who });
  process.stdout.write(`${who} removed from ${s.path}; members: ${members(s)}\n`);
}

async function leave(file: string, opts: ShareOptions): Promise<void> {
  const ctx = resolveServer(opts);
  const r = await api<{ path: string; owner: string }>(ctx, 'POST', '/v1/shares/leave', {
    path: cloudPath(ctx, file),
  });
  process.stdout.write(`left ${r.path} (shared by ${r.owner})\n`);
}

export function registerShare(program: Command): void {
  const cmd = serverOptions(
    program
      .command('share')
      .argument('<path>', 'a folder: a cloud path (/docs) or a path inside the mounted drive')
      .description('share a folder with another user (it shows in their drive, and syncs both ways)')
      .option('--with <user>', 'the user to share with')
      .option('--role <role>', 'viewer (read only) or editor (default)')
      .option('--json', 'print one JSON object'),
  ).action((file: string, opts: ShareOptions) => share(file, opts));
  serverOptions(
    cmd
      .command('list')
      .argument('[path]', 'only this shared folder')
      .description('your shared folders (owned and joined) with their members')
      .option('--json', 'print JSON'),
  ).action((file: string | undefined, _o: ShareOptions, c: Command) =>
    list(file, c.optsWithGlobals<ShareOptions>()),
  );
  serverOptions(
    cmd
      .command('remove <path>')
      .description('take a member out of a folder you shared (it leaves their drive at once)')
      .option('--with <user>', 'the member to remove'),
  ).action((file: string, _o: ShareOptions, c: Command) => remove(file, c.optsWithGlobals<ShareOptions>()));
  serverOptions(cmd.command('leave <path>').description('leave a folder someone shared with you')).action(
    (file: string, _o: ShareOptions, c: Command) => leave(file, c.optsWithGlobals<ShareOptions>()),
  );
}
