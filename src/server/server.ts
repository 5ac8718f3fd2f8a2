/**
 * Composition root of `loft serve`: opens the stores under the data directory, builds the HTTP app
 * and listens. The embedded default is SQLite metadata (`<data>/meta.db`) and blocks on local disk
 * (`<data>/blocks/`).
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { FsBlockStore } from '../blockstore/fs-block-store.js';
import type { BlockStore } from '../blockstore/block-store.js';
import type { MetadataStore } from '../metastore/metadata-store.js';
import { SqliteMetadataStore } from '../metastore/sqlite/sqlite-metadata-store.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { createLogger, logTo, type Logger } from '../shared/log.js';
import { privateDir } from '../shared/private-dir.js';
import {
  DEFAULT_GC_GRACE_MS,
  DEFAULT_GC_INTERVAL_MS,
  DEFAULT_KEEP_DAYS,
  GarbageCollector,
  keepDaysToMs,
} from './garbage-collector.js';
import { buildApp } from './http/app.js';
import { JournalHub } from './journal-hub.js';
import { ContentIndexer } from './content-indexer.js';
import { crossServerWakeups } from './cross-server-wakeups.js';
import { ServerMetrics } from './server-metrics.js';

/** How long a shutdown waits for requests under way before it cuts their connections. */
const CLOSE_GRACE_MS = 3_000;

export interface DataDirStores {
  meta: MetadataStore;
  blocks: BlockStore;
}

/** Temp files of uploads younger than this may belong to a running server (a put takes seconds). */
const FOREIGN_TMP_AGE_MS = 3_600_000;

/**
 * Opens (creating if needed) the embedded stores in `dataDir`. `owner` is the server itself: it
 * removes every leftover upload temp file; tools (`loft user`, `loft gc`), which may run beside a
 * server, remove only old ones.
 */
export function openDataDir(dataDir: string, options: { owner?: boolean } = {}): DataDirStores {
  privateDir(dataDir);
  const meta = new SqliteMetadataStore({ filename: path.join(dataDir, 'meta.db') });
  const blocks = new FsBlockStore({
    root: path.join(dataDir, 'blocks'),
    verifyOnGet: false,
    tmpMaxAgeMs: options.owner ? 0 : FOREIGN_TMP_AGE_MS,
    // The server's PUTs answer before their block is durable; commits wait (block-flusher.ts).
    syncInGroups: options.owner ?? false,
    nativeIo: process.env.LOFT_SERVER_NATIVE !== '0', // block-flusher.ts StoreFileIo
  });
  return { meta, blocks };
}

/**
 * The stores of a server-side command: the embedded ones in `dataDir`, or with `meta` (a
 * postgres:// URL, password in PGPASSWORD) PostgreSQL metadata, and with `blocks` (an s3:// URL,
 * keys in the environment) blocks in an S3-compatible bucket; what is not given stays in `dataDir`.
 */
export async function openStores(
  dataDir: string,
  options: { owner?: boolean; meta?: string | undefined; blocks?: string | undefined } = {},
): Promise<DataDirStores> {
  if (options.meta === undefined && options.blocks === undefined) return openDataDir(dataDir, options);
  // Loaded on use: the embedded default pays for neither the PostgreSQL driver nor the AWS SDK.
  let blocks: BlockStore;
  if (options.blocks !== undefined) {
    const { parseS3Url, S3BlockStore } = await import('../blockstore/s3-block-store.js');
    // The server does not re-hash what it serves (see FsBlockStore's verifyOnGet): clients do.
    blocks = await S3BlockStore.open({ location: parseS3Url(options.blocks), verifyOnGet: false });
  } else {
    privateDir(dataDir);
    blocks = new FsBlockStore({
      root: path.join(dataDir, 'blocks'),
      verifyOnGet: false,
      tmpMaxAgeMs: options.owner ? 0 : FOREIGN_TMP_AGE_MS,
      syncInGroups: options.owner ?? false,
      nativeIo: process.env.LOFT_SERVER_NATIVE !== '0', // block-flusher.ts StoreFileIo
    });
  }
  let meta: MetadataStore;
  try {
    if (options.meta !== undefined) {
      const { PostgresMetadataStore } = await import('../metastore/postgres/postgres-metadata-store.js');
      meta = await PostgresMetadataStore.open({ url: options.meta });
    } else {
      privateDir(dataDir);
      meta = new SqliteMetadataStore({ filename: path.join(dataDir, 'meta.db') });
    }
  } catch (err) {
    await blocks.close();
    throw err;
  }
  return { meta, blocks };
}

export interface ServerOptions {
  stores: DataDirStores;
  host: string;
  port: number;
  clock?: Clock;
  /** The process's logger (`loft serve` makes it: src/shared/log.ts). */
  logger?: Logger;
  /** Without `logger`: the level of the one made here (scripts that start a server in-process). */
  logLevel?: string;
  /** History retention and block garbage collection (defaults: 30 days, every hour, 24 h grace). */
  gc?: Partial<GcSettings>;
  /** Serve HTTPS with this certificate chain and key (PEM, `loft serve --tls-cert --tls-key`). */
  tls?: { cert: Buffer; key: Buffer };
  /** Balancers whose X-Forwarded-For is believed (`--trust-proxy`, trust-proxy.ts). */
  trustProxy?: string[];
  /**
   * Content search indexing (defaults: files up to 1 MiB, a backlog look every 30 s besides wakes,
   * indexing once commits have been quiet for 250 ms or deferred for 5 s; content-indexer.ts).
   */
  contentIndex?: { maxBytes?: number; pollMs?: number; quietMs?: number; maxDeferMs?: number };
}

export interface GcSettings {
  keepDays: number;
  /** Between runs; 0 turns the periodic collection off. */
  intervalMs: number;
  graceMs: number;
}

export function gcSettings(partial: Partial<GcSettings> = {}): GcSettings {
  return {
    keepDays: partial.keepDays ?? DEFAULT_KEEP_DAYS,
    intervalMs: partial.intervalMs ?? DEFAULT_GC_INTERVAL_MS,
    graceMs: partial.graceMs ?? DEFAULT_GC_GRACE_MS,
  };
}

/** The collector over a data directory's stores (used by `loft serve` and `loft gc`). */
export function createCollector(stores: DataDirStores, settings: GcSettings, clock: Clock): GarbageCollector {
  return new GarbageCollector({
    meta: stores.meta,
    blocks: stores.blocks,
    clock,
    keepMs: keepDaysToMs(settings.keepDays),
    graceMs: settings.graceMs,
  });
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  gc: GarbageCollector;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { meta, blocks } = options.stores;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(options.logLevel, 'loft-serve');
  const log = logTo(logger);
  const metrics = new ServerMetrics();
  const hub = new JournalHub();
  const app = await buildApp({
    meta,
    blocks,
    hub,
    clock,
    metrics,
    tls: options.tls,
    ...(options.trustProxy ? { trustProxy: options.trustProxy } : {}),
    logger,
  });
  const settings = gcSettings(options.gc);
  const gc = new GarbageCollector({
    meta,
    blocks,
    clock,
    keepMs: keepDaysToMs(settings.keepDays),
    graceMs: settings.graceMs,
    log,
    onRun: (report) => metrics.gcRun(report),
  });
  // Content search's background indexer, woken by every commit this server sees (content-indexer.ts).
  const indexer = new ContentIndexer({
    meta,
    blocks,
    ...(options.contentIndex ?? {}),
    log,
  });
  const unlisten = hub.listen(() => indexer.wake());
  // Other servers' commits (PostgreSQL LISTEN/NOTIFY) wake this one's long-polls.
  const wakeups = await crossServerWakeups(meta, hub, { log });
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (err) {
    await wakeups?.close();
    throw err;
  }
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  gc.start(settings.intervalMs);
  indexer.start();
  return {
    app,
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    gc,
    async close() {
      await gc.close();
      unlisten();
      await indexer.close();
      // Requests under way get CLOSE_GRACE_MS to finish (long-polls answer at once); then their
      // connections are cut, so a stalled client (an upload whose body stopped coming) cannot hold
      // a shutdown for the whole request timeout. Clients retry; a commit is atomic either way.
      const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
      await wakeups?.close();
      await blocks.close();
      await meta.close();
    },
  };
}
