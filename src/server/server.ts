/**
 * Composition root of `loft serve`: opens the stores under the data directory, builds the HTTP app
 * and listens. The embedded default is SQLite metadata (`<data>/meta.db`) and blocks on local disk
 * (`<data>/blocks/`).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { FsBlockStore } from '../blockstore/fs-block-store.js';
import type { BlockStore } from '../blockstore/block-store.js';
import type { MetadataStore } from '../metastore/metadata-store.js';
import { SqliteMetadataStore } from '../metastore/sqlite/sqlite-metadata-store.js';
import { systemClock, type Clock } from '../shared/clock.js';
import { buildApp } from './http/app.js';
import { JournalHub } from './journal-hub.js';

export interface DataDirStores {
  meta: MetadataStore;
  blocks: BlockStore;
}

/** Opens (creating if needed) the embedded stores in `dataDir`. */
export function openDataDir(dataDir: string): DataDirStores {
  mkdirSync(dataDir, { recursive: true });
  const meta = new SqliteMetadataStore({ filename: path.join(dataDir, 'meta.db') });
  const blocks = new FsBlockStore({ root: path.join(dataDir, 'blocks'), verifyOnGet: false });
  return { meta, blocks };
}

export interface ServerOptions {
  stores: DataDirStores;
  host: string;
  port: number;
  clock?: Clock;
  logLevel?: string;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { meta, blocks } = options.stores;
  const app = await buildApp({
    meta,
    blocks,
    hub: new JournalHub(),
    clock: options.clock ?? systemClock,
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
  });
  await app.listen({ host: options.host, port: options.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    app,
    url: `http://${host}:${port}`,
    async close() {
      await app.close();
      await blocks.close();
      await meta.close();
    },
  };
}
