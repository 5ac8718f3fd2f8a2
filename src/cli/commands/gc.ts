import path from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '../../shared/clock.js';
import { formatBytes, parseDuration } from '../../shared/size.js';
import { DEFAULT_DATA, gcOptions, metaOption, parseKeepDays, type GcCliOptions } from './serve.js';

/**
 * `loft gc`: one retention + block garbage-collection run over a data directory, now. Safe beside a
 * running `loft serve` on the same directory: the collector and the server's uploads and commits
 * meet in the metadata store (src/server/garbage-collector.ts explains why that is enough).
 */
export function registerGc(program: Command): void {
  gcOptions(
    metaOption(
      program
        .command('gc')
        .description(
          'purge history older than --keep-days and delete blocks nothing references (run on the server machine)',
        )
        .option('--data <dir>', 'server data directory', process.env.LOFT_DATA ?? DEFAULT_DATA)
        .option('--json', 'print the report as one JSON object'),
    ),
  ).action(async (opts: { data: string; meta?: string; blocks?: string; json?: boolean } & GcCliOptions) => {
    const settings = {
      keepDays: parseKeepDays(opts.keepDays),
      graceMs: parseDuration(opts.gcGrace),
      intervalMs: 0,
    };
    const { createCollector, openStores } = await import('../../server/server.js');
    const stores = await openStores(path.resolve(opts.data), { meta: opts.meta, blocks: opts.blocks });
    try {
      const report = await createCollector(stores, settings, systemClock).run();
      process.stdout.write(
        opts.json
          ? JSON.stringify(report) + '\n'
          : `purged ${report.purgedRevisions} revision(s) and the history of ${report.purgedNodes} deleted node(s); ` +
              `deleted ${report.deletedBlocks} block(s), ${formatBytes(report.freedBytes)} freed` +
              (report.failedDeletes
                ? `; ${report.failedDeletes} block(s) could not be deleted (retried next run)`
                : '') +
              '\n',
      );
    } finally {
      await stores.meta.close();
      await stores.blocks.close();
    }
  });
}
