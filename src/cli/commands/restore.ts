/** `loft restore PATH --rev N [--to PATH]`: bring back an older revision as a new one. */
import type { Command } from 'commander';
import { LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import { api, cloudPath, resolveServer, serverOptions, type ServerOptions } from './history.js';

interface RestoreOptions extends ServerOptions {
  rev: string;
  to?: string;
  json?: boolean;
}

async function restore(file: string, opts: RestoreOptions): Promise<void> {
  if (!/^[1-9][0-9]{0,14}$/.test(opts.rev))
    throw new LoftError('BAD_REQUEST', `--rev wants a revision number, got ${JSON.stringify(opts.rev)}`);
  const rev = Number(opts.rev);
  const ctx = resolveServer(opts);
  const cloud = cloudPath(ctx, file);
  const to = opts.to === undefined ? undefined : cloudPath(ctx, opts.to);
  // By path: the server finds the node through the revision and checks that PATH is where that node
  // is now, or was when it was deleted (so a file deleted and replaced by another can come back).
  let r: { rev: number; node: Revision; created: Revision[] };
  try {
    r = await api(ctx, 'POST', '/v1/restore', {
      path: cloud,
      rev,
      ...(to !== undefined ? { toPath: to } : {}),
    });
  } catch (err) {
    if (err instanceof LoftError && err.code === 'EXISTS')
      throw new LoftError('EXISTS', `${err.message} (restore it elsewhere with --to PATH)`);
    if (err instanceof LoftError && err.code === 'NOT_FOUND')
      throw new LoftError('NOT_FOUND', `${err.message} (see loft history ${file})`);
    throw err;
  }
  if (opts.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  process.stdout.write(`restored ${to ?? cloud} to the content of rev ${rev}: now rev ${r.rev}\n`);
}

export function registerRestore(program: Command): void {
  serverOptions(
    program
      .command('restore <path>')
      .description('make an older revision of a file (deleted ones too) its newest revision')
      .requiredOption('--rev <n>', 'the revision to bring back (see loft history PATH)')
      .option('--to <path>', 'restore as a new file at this path instead')
      .option('--json', 'print the server answer as JSON'),
  ).action((file: string, opts: RestoreOptions) => restore(file, opts));
}
