/**
 * `loft search QUERY`: files and folders whose name contains QUERY, then files whose text contains
 * it (grep-style `path: snippet` lines), in the namespaces the user is a member of (the server's
 * name index: SQLite FTS5 trigram, or PostgreSQL pg_trgm; its content index: the same, over the
 * text of text files up to 1 MiB, kept by a background indexer). Content is searched for queries
 * of 3 characters or more; `--names` searches names only.
 */
import type { Command } from 'commander';
import type { ContentSearchResult } from '../../metastore/content-store.js';
import { MIN_CONTENT_QUERY } from '../../metastore/engine/content-search.js';
import type { SearchResult } from '../../metastore/engine/search.js';
import { LoftError } from '../../shared/errors.js';
import { formatBytes } from '../../shared/size.js';
import { api, resolveServer, serverOptions, type ServerOptions } from '../server-context.js';

interface SearchOptions extends ServerOptions {
  limit?: string;
  json?: boolean;
  names?: boolean;
}

async function search(query: string, opts: SearchOptions): Promise<void> {
  const limit = opts.limit ?? '50';
  if (!/^[1-9][0-9]{0,3}$/.test(limit))
    throw new LoftError('BAD_REQUEST', `--limit wants a number 1..500, got ${JSON.stringify(limit)}`);
  const ctx = resolveServer(opts);
  const q = encodeURIComponent(query);
  const res = await api<SearchResult>(ctx, 'GET', `/v1/search?q=${q}&limit=${limit}`);
  const content =
    !opts.names && [...query.trim()].length >= MIN_CONTENT_QUERY
      ? await api<ContentSearchResult>(ctx, 'GET', `/v1/search/content?q=${q}&limit=${limit}`)
      : null;
  if (opts.json) {
    process.stdout.write(JSON.stringify(content ? { ...res, content } : res) + '\n');
    return;
  }
  for (const h of res.hits) {
    const size = h.kind === 'dir' ? 'folder' : formatBytes(h.size);
    process.stdout.write(`${h.path}${h.kind === 'dir' ? '/' : ''}\t${size}\n`);
  }
  for (const h of content?.hits ?? []) process.stdout.write(`${h.path}: ${h.snippet}\n`);
  if (res.truncated || content?.truncated)
    process.stderr.write(`loft: more than ${limit} matches; refine the query or raise --limit\n`);
  else if (!res.hits.length && !content?.hits.length)
    process.stderr.write(
      `loft: nothing named like${content ? ' or holding' : ''} ${JSON.stringify(query)}\n`,
    );
  if (content?.behind)
    process.stderr.write('loft: the content index is still catching up with recent changes\n');
}

export function registerSearch(program: Command): void {
  serverOptions(
    program
      .command('search <query>')
      .description(
        'find files and folders by name, and text files by content (substring, case-insensitive; content: 3+ characters)',
      )
      .option('--limit <n>', 'most results to show (1..500)', '50')
      .option('--names', 'search names only, not file contents')
      .option('--json', 'print the answer as one JSON object (content hits under "content")'),
  ).action((query: string, opts: SearchOptions) => search(query, opts));
}
