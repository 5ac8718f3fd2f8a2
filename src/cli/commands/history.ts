/**
 * `loft history PATH` and `loft history --deleted DIR`: version history from the server (and
 * `historyOf`, which `loft restore` shares). Credentials and paths: ../server-context.ts.
 */
import type { Command } from 'commander';
import { LoftError } from '../../shared/errors.js';
import type { DeletedEntry, Revision } from '../../shared/protocol.js';
import { formatBytes } from '../../shared/size.js';
import {
  api,
  cloudPath,
  resolveServer,
  serverOptions,
  type ServerContext,
  type ServerOptions,
} from '../server-context.js';
import { table, when } from './table.js';

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
