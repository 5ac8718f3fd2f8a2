import path from 'node:path';
import type { Command } from 'commander';
import { formatBytes } from '../../shared/size.js';
import { LoftError } from '../../shared/errors.js';

/** Tables of at least this many rows report their progress every 10% (smaller ones when done). */
const BIG_TABLE_ROWS = 10_000;

/**
 * `loft migrate --from DIR --meta postgres://… --blocks s3://…`: copies an embedded installation to
 * the scale-out engines keeping ids and sequences (src/server/migrate.ts), with progress on stderr;
 * safe to run again (it continues, or changes nothing). Stop the old server first.
 */

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description(
      'copy an embedded installation (--from DIR) to PostgreSQL + S3, keeping ids (devices keep working, no re-sync); resumable',
    )
    .requiredOption('--from <dir>', 'the data directory of the embedded installation (its server stopped)')
    .requiredOption('--meta <url>', 'target metadata: postgres://USER@HOST:PORT/DB (password in PGPASSWORD)')
    .option(
      '--blocks <url>',
      'target blocks: s3://BUCKET[/PREFIX]?endpoint=URL&region=R (keys in the environment)',
    )
    .option('--data <dir>', 'target blocks in this directory instead of --blocks')
    .option('--json', 'print the report as one JSON object')
    .action(async (opts: { from: string; meta: string; blocks?: string; data?: string; json?: boolean }) => {
      if ((opts.blocks === undefined) === (opts.data === undefined))
        throw new LoftError(
          'BAD_REQUEST',
          'give the target blocks: --blocks s3://… or --data DIR (one of them)',
        );
      const from = path.resolve(opts.from);
      if (opts.data !== undefined && path.resolve(opts.data) === from)
        throw new LoftError('BAD_REQUEST', '--data is the source directory: give another one');
      const { openDataDir, openStores } = await import('../../server/server.js');
      const { migrateInstallation } = await import('../../server/migrate.js');
      const { existsSync } = await import('node:fs');
      if (!existsSync(path.join(from, 'meta.db')))
        throw new LoftError('BAD_REQUEST', `no embedded installation in ${from} (no meta.db)`);
      const source = openDataDir(from);
      await source.meta.close(); // migrateInstallation reads meta.db itself
      const target = await openStores(path.resolve(opts.data ?? from), {
        meta: opts.meta,
        blocks: opts.blocks ?? undefined,
      });
      await target.meta.close(); // only its block store is used here
      const say = (line: string) => process.stderr.write(`loft migrate: ${line}\n`);
      let lastBlocksPct = -1;
      const lastTablePct = new Map<string, number>();
      try {
        const report = await migrateInstallation({
          from,
          fromBlocks: source.blocks,
          meta: opts.meta,
          blocks: target.blocks,
          progress: (e) => {
            if (e.kind === 'table') {
              if (e.copied === e.total) say(`${e.table}: ${e.total.toLocaleString('en-US')} rows`);
              else if (e.total >= BIG_TABLE_ROWS) {
                // A big table says how far it is every 10%.
                const pct = Math.floor((e.copied / e.total) * 10) * 10;
                if (pct > 0 && lastTablePct.get(e.table) !== pct) {
                  lastTablePct.set(e.table, pct);
                  say(
                    `${e.table}: ${pct}% (${e.copied.toLocaleString('en-US')} of ${e.total.toLocaleString('en-US')} rows)`,
                  );
                }
              }
            } else {
              const pct = e.total ? Math.floor(((e.copied + e.skipped) / e.total) * 20) * 5 : 100;
              if (pct === lastBlocksPct) return;
              lastBlocksPct = pct;
              say(
                `blocks: ${pct}% (${(e.copied + e.skipped).toLocaleString('en-US')} of ${e.total.toLocaleString('en-US')}; ` +
                  `${e.skipped.toLocaleString('en-US')} already there; ${formatBytes(e.bytes)} copied)`,
              );
            }
          },
        });
        if (opts.json) process.stdout.write(JSON.stringify(report) + '\n');
        else {
          const rows = Object.values(report.tables).reduce((n, t) => n + t.source, 0);
          process.stdout.write(
            `migrated ${rows.toLocaleString('en-US')} rows in ${Object.keys(report.tables).length} tables and ` +
              `${report.blocks.total.toLocaleString('en-US')} blocks (${report.blocks.copied.toLocaleString('en-US')} copied, ` +
              `${formatBytes(report.blocks.bytes)}); verified: every row count and every block\n`,
          );
        }
      } finally {
        await source.blocks.close();
        await target.blocks.close();
      }
    });
}
