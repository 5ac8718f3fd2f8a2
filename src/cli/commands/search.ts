/**
 * `loft search QUERY`: files and folders whose name contains QUERY, in the namespaces the user is
 * a member of (the server's name index: SQLite FTS5 trigram, or PostgreSQL pg_trgm).
 */
import type { Command } from 'commander';
import type { SearchResult } from '../../metastore/engine/search.js';
import { LoftError } from '../../shared/errors.js';
import { formatBytes } from '../../shared/size.js';
import { api, resolveServer, serverOptions, type ServerOptions } from '../server-context.js';

interface SearchOptions extends ServerOptions {
  limit?: string;
  json?: boolean;
}

async function search(query: string, opts: SearchOptions): Promise<void> {
  const limit = opts.limit ?? '50';
  if (!/^[1-9][0-9]{0,3}$/.test(limit))
    throw new LoftError('BAD_REQUEST', `--limit wants a number 1..500, got ${JSON.stringify(limit)}`);
  const ctx = resolveServer(opts);
  const res = await api<SearchResult>(ctx, 'GET', `/v1/search?q=${encodeURIComponent(query)}&limit=${limit}`);
  if (opts.json) {
    process.stdout.write(JSON.stringify(res) + '\n');
    return;
  }
  for (const h of res.hits) {
    const size = h.kind === 'dir' ? 'folder' : formatBytes(h.size);
    process.stdout.write(`${h.path}${h.kind === 'dir' ? '/' : ''}\t${size}\n`);
  }
  if (res.truncated)
    process.stderr.write(`loft: more than ${res.hits.length} matches; refine the query or raise --limit\n`);
  else if (!res.hits.length) process.stderr.write(`loft: nothing named like ${JSON.stringify(query)}\n`);
}

export function registerSearch(program: Command): void {
  serverOptions(
    program
      .command('search <query>')
      .description('find files and folders by name (substring, case-insensitive)')
      .option('--limit <n>', 'most results to show (1..500)', '50')
      .option('--json', 'print the answer as one JSON object'),
  ).action((query: string, opts: SearchOptions) => search(query, opts));
}
