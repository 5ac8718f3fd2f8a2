import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { LoftError } from '../../shared/errors.js';
import { parseDuration } from '../../shared/size.js';

export const DEFAULT_LISTEN = '127.0.0.1:7420';
export const DEFAULT_DATA = './loft-data';

/** Parses HOST:PORT ("[::1]:80" for IPv6); port 0 picks a free one. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new LoftError('BAD_REQUEST', `--listen wants HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: (m[1] ?? m[2])!, port };
}

/** Parses `--keep-days`: a non-negative number of days (fractions allowed; 0 keeps only current revisions). */
export function parseKeepDays(text: string): number {
  const n = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(n))
    throw new LoftError('BAD_REQUEST', `--keep-days wants a number of days, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * `--meta` and `--blocks` of every server-side command: the metadata store (default: SQLite under
 * --data) and the block store (default: a directory under --data).
 */
export function metaOption(c: Command): Command {
  return c
    .option(
      '--meta <url>',
      'metadata in PostgreSQL: postgres://USER@HOST:PORT/DB, password in PGPASSWORD (default: SQLite in --data)',
      process.env.LOFT_META,
    )
    .option(
      '--blocks <url>',
      'blocks in an S3-compatible bucket: s3://BUCKET[/PREFIX]?endpoint=URL&region=R, keys in ' +
        'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (default: files in --data)',
      process.env.LOFT_BLOCKS,
    );
}

export interface GcCliOptions {
  keepDays: string;
  gcGrace: string;
}

/** Options shared by `loft serve` and `loft gc` (defaults in src/server/garbage-collector.ts). */
export function gcOptions(c: Command): Command {
  return c
    .option('--keep-days <n>', 'keep old revisions and deleted files this many days', '30')
    .option(
      '--gc-grace <duration>',
      'never collect a block sent within this (uploads awaiting their commit)',
      '24h',
    );
}

/** The certificate and key of `--tls-cert`/`--tls-key` (both or neither), checked to be PEM. */
export function readTls(
  certFile: string | undefined,
  keyFile: string | undefined,
): { cert: Buffer; key: Buffer } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (!certFile || !keyFile) throw new LoftError('BAD_REQUEST', '--tls-cert and --tls-key go together');
  const read = (file: string, what: string, marker: RegExp): Buffer => {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      throw new LoftError('BAD_REQUEST', `cannot read ${what} ${file}: ${(err as Error).message}`);
    }
    if (!marker.test(data.toString('latin1')))
      throw new LoftError('BAD_REQUEST', `${file} is not a PEM ${what}`);
    return data;
  };
  return {
    cert: read(certFile, 'certificate', /-----BEGIN CERTIFICATE-----/),
    key: read(keyFile, 'private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
  };
}

export function registerServe(program: Command): void {
  const serve = program
    .command('serve')
    .description(
      'run the Loft server (embedded default: SQLite metadata + blocks on local disk under --data)',
    )
    .option(
      '--data <dir>',
      'data directory (blocks; and metadata unless --meta)',
      process.env.LOFT_DATA ?? DEFAULT_DATA,
    )
    .option('--listen <host:port>', 'address to listen on (port 0 picks a free one)', DEFAULT_LISTEN)
    .option('--log-level <level>', 'fatal|error|warn|info|debug (env LOFT_LOG; default warn)')
    .option(
      '--tls-cert <file>',
      'serve HTTPS: PEM certificate chain (with --tls-key)',
      process.env.LOFT_TLS_CERT,
    )
    .option('--tls-key <file>', 'PEM private key of --tls-cert', process.env.LOFT_TLS_KEY)
    .option(
      '--trust-proxy <addrs>',
      "load balancers (addresses, CIDR ranges; comma-separated) whose X-Forwarded-For gives the client's address",
      process.env.LOFT_TRUST_PROXY,
    );
  gcOptions(metaOption(serve))
    .option('--gc-interval <duration>', 'time between retention + garbage-collection runs (0: never)', '1h')
    .action(
      async (
        opts: {
          data: string;
          meta?: string;
          blocks?: string;
          listen: string;
          logLevel?: string;
          gcInterval: string;
          tlsCert?: string;
          tlsKey?: string;
          trustProxy?: string;
        } & GcCliOptions,
      ) => {
        (await import('../../shared/heap-growth.js')).setHeapGrowth();
        const { host, port } = parseListen(opts.listen);
        const gc = {
          keepDays: parseKeepDays(opts.keepDays),
          graceMs: parseDuration(opts.gcGrace),
          intervalMs: parseDuration(opts.gcInterval),
        };
        const dataDir = path.resolve(opts.data);
        const tls = readTls(opts.tlsCert, opts.tlsKey);
        const { parseTrustProxy } = await import('../../server/trust-proxy.js');
        const trustProxy = opts.trustProxy === undefined ? undefined : parseTrustProxy(opts.trustProxy);
        // Loaded on use: `loft --help` and client commands should not pay for the server's modules.
        const { openStores, startServer } = await import('../../server/server.js');
        const { createLogger } = await import('../../shared/log.js');
        // The process's one logger: the HTTP app, GC, indexer and wake-ups all write to it.
        const logger = createLogger(opts.logLevel, 'loft-serve');
        const server = await startServer({
          stores: await openStores(dataDir, { owner: true, meta: opts.meta, blocks: opts.blocks }),
          host,
          port,
          logger,
          gc,
          ...(tls ? { tls } : {}),
          ...(trustProxy ? { trustProxy } : {}),
        });
        const where =
          opts.meta || opts.blocks
            ? `metadata in ${opts.meta ? 'PostgreSQL' : dataDir}, blocks in ${opts.blocks ? 'S3' : dataDir}`
            : `data in ${dataDir}`;
        process.stdout.write(`loft serve: listening on ${server.url} (${where})\n`);
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          process.stdout.write(`loft serve: ${signal}, shutting down\n`);
          server.close().then(
            () => process.exit(0),
            (err: unknown) => {
              process.stderr.write(`loft serve: shutdown failed: ${String(err)}\n`);
              process.exit(1);
            },
          );
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      },
    );
}
