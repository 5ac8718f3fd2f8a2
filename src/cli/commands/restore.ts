/**
 * `loft restore PATH [--rev N] [--to PATH]`: bring back an older revision as a new one, or a deleted
 * file or folder (a folder with everything its delete took).
 */
import type { Command } from 'commander';
import { LoftError } from '../../shared/errors.js';
import type { Revision } from '../../shared/protocol.js';
import {
  api,
  cloudPath,
  resolveServer,
  serverOptions,
  type ServerContext,
  type ServerOptions,
} from '../server-context.js';
import { historyOf } from './history.js';

interface RestoreOptions extends ServerOptions {
  rev?: string;
  to?: string;
  json?: boolean;
}

async function restore(file: string, opts: RestoreOptions): Promise<void> {
  if (opts.rev !== undefined && !/^[1-9][0-9]{0,14}$/.test(opts.rev))
    throw new LoftError('BAD_REQUEST', `--rev wants a revision number, got ${JSON.stringify(opts.rev)}`);
  const ctx = resolveServer(opts);
  const cloud = cloudPath(ctx, file);
  const rev = opts.rev !== undefined ? Number(opts.rev) : await lastBeforeDelete(ctx, cloud);
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
  if (r.node.kind === 'dir') {
    const files = r.created.filter((c) => c.kind === 'file' && c.op !== 'mkdir').length;
    const dirs = r.created.filter((c) => c.kind === 'dir').length;
    process.stdout.write(
      `restored folder ${cloud} with ${files} file(s) and ${dirs} folder(s) deleted with it: now rev ${r.rev}\n`,
    );
    return;
  }
  process.stdout.write(`restored ${to ?? cloud} to the content of rev ${rev}: now rev ${r.rev}\n`);
}

/** Without --rev: a deleted file or folder comes back as it was just before its delete. */
async function lastBeforeDelete(ctx: ServerContext, cloud: string): Promise<number> {
  const h = await historyOf(ctx, cloud);
  const last = h.revisions[h.revisions.length - 1]!;
  const before = h.revisions[h.revisions.length - 2];
  if (!last.deleted)
    throw new LoftError('BAD_REQUEST', `${cloud} is not deleted; give --rev N (see loft history ${cloud})`);
  if (!before) throw new LoftError('NOT_FOUND', `${cloud}: no kept revision before its delete`);
  return before.rev;
}

export function registerRestore(program: Command): void {
  serverOptions(
    program
      .command('restore <path>')
      .description(
        'make an older revision of a file its newest revision; bring back a deleted file or folder (a folder with everything deleted with it)',
      )
      .option(
        '--rev <n>',
        'the revision to bring back (see loft history PATH); default for a deleted file or folder: its last one',
      )
      .option('--to <path>', 'restore as a new file at this path instead')
      .option('--json', 'print the server answer as JSON'),
  ).action((file: string, opts: RestoreOptions) => restore(file, opts));
}
