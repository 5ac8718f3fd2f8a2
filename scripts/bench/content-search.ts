// Content search (issue 16) on both engines: --files text files of about --kb KiB each (code-like
// lines from a small vocabulary, one rare marker every 500th file) are committed through the
// store, their bytes put in a memory BlockStore, then the ContentIndexer catches up (timed: text
// per second, and the longest single index transaction, which is what a request can wait behind
// on SQLite), then searches are timed (median of --runs) through MetadataStore.searchContent.
// One 1 MiB file is indexed alone at the end (the largest transaction the indexer makes).
// Usage: node scripts/bench/content-search.mjs [--engine sqlite|postgres] [--files 2000] [--kb 16] [--runs 9]
// Needs a build (npx tsc -p .); PostgreSQL as in search.mjs (a throwaway cluster).
import { createHash } from 'node:crypto';
import path from 'node:path';
import { MemoryBlockStore } from '../../src/blockstore/memory-block-store.js';
import type { MetadataStore } from '../../src/metastore/metadata-store.js';
import { PostgresMetadataStore } from '../../src/metastore/postgres/postgres-metadata-store.js';
import { SqliteMetadataStore } from '../../src/metastore/sqlite/sqlite-metadata-store.js';
import { ContentIndexer } from '../../src/server/content-indexer.js';
import { clusterDir, stopCluster, testDatabase } from '../../test/helpers/postgres.js';
import { parseFlags } from './lib/cli.js';
import { runBench } from './lib/main.js';
import { track } from './lib/proc.js';
import { machineLoad } from './lib/report.js';

const USAGE =
  'usage: node scripts/bench/content-search.mjs [--engine sqlite|postgres] [--files N] [--kb N] [--runs N]';

const WORDS = ['config', 'parse', 'buffer', 'index', 'return', 'const', 'value', 'error', 'stream', 'client'];
function textOf(i: number, bytes: number): string {
  const lines: string[] = [];
  let n = 0;
  for (let l = 0; n < bytes; l++) {
    const w = (k: number) => WORDS[(i * 7 + l * 13 + k) % WORDS.length]!;
    const line = `  ${w(0)}_${w(1)}(${w(2)}, ${l * 31 + i}); // ${w(3)} ${w(4)}${i % 500 === 3 && l === 5 ? ' zq_marker' : ''}`;
    lines.push(line);
    n += line.length + 1;
  }
  return lines.join('\n');
}
const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

runBench('content-search', async ({ work }) => {
  const opts = parseFlags(process.argv.slice(2), { engine: 'sqlite', files: 2000, kb: 16, runs: 9 }, USAGE, {
    engine: ['sqlite', 'postgres'],
  });
  const { files, kb, runs } = opts;
  let store: MetadataStore;
  if (opts.engine === 'postgres') {
    const db = await testDatabase();
    process.env.PGPASSWORD = db.env.PGPASSWORD;
    track({ stop: async () => stopCluster(clusterDir(process.pid)) });
    store = await PostgresMetadataStore.open({ url: db.url });
  } else {
    store = new SqliteMetadataStore({ filename: path.join(work, 'meta.db') });
  }
  const blocks = new MemoryBlockStore({ maxBlockSize: 4 << 20 });
  const alice = await store.createUser('alice', 1);
  const dev = await store.addDevice(alice.id, 'bench', sha('bench'), null, 1);
  const actor = { userId: alice.id, deviceId: dev, now: 1 };
  const write = async (p: string, text: string) => {
    const data = Buffer.from(text);
    const hash = sha(data);
    await blocks.put(hash, data);
    await store.recordUpload(alice.id, hash, data.length, data.length, 1);
    await store.commitFile(actor, {
      ns: alice.homeNs,
      node: { path: p },
      parentRev: null,
      blocks: [{ hash, size: data.length }],
      size: data.length,
      mtime: 1,
      mode: 0o644,
    });
    return data.length;
  };
  let bytes = 0;
  for (let i = 0; i < files; i++) bytes += await write(`/src/d${i % 50}/f${i}.c`, textOf(i, kb * 1024));

  // Time each index transaction: wrap applyContentIndex.
  let longest = 0;
  const apply = store.applyContentIndex.bind(store);
  store.applyContentIndex = async (...a: Parameters<typeof apply>) => {
    const s = performance.now();
    await apply(...a);
    longest = Math.max(longest, performance.now() - s);
  };
  const indexer = new ContentIndexer({ meta: store, blocks });
  let t0 = performance.now();
  await indexer.drain();
  const indexS = (performance.now() - t0) / 1000;
  console.log(
    `${opts.engine}: indexed ${files} files, ${(bytes / 1048576).toFixed(1)} MiB of text in ${indexS.toFixed(1)} s ` +
      `(${(bytes / 1048576 / indexS).toFixed(1)} MiB/s); longest index transaction ${longest.toFixed(1)} ms`,
  );
  const queries: [string, string][] = [
    ['rare marker (4 files)', 'zq_marker'],
    ['common identifier', 'parse_buffer'],
    ['matches nothing', 'no_such_thing'],
    ['3 chars, common', 'con'],
  ];
  console.log('query                               | hits | median ms | max ms');
  for (const [label, q] of queries) {
    const times: number[] = [];
    let hits = 0;
    for (let r = 0; r < runs; r++) {
      const s = performance.now();
      hits = (await store.searchContent(alice.id, q, 50)).hits.length;
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    console.log(
      `${`${label} (${q})`.padEnd(36)}| ${String(hits).padStart(4)} | ${times[Math.floor(runs / 2)]!.toFixed(2).padStart(9)} | ${times[runs - 1]!.toFixed(2).padStart(6)}`,
    );
  }
  longest = 0;
  await write('/big.c', textOf(7, 1024 * 1024 - 200));
  t0 = performance.now();
  await indexer.drain();
  console.log(
    `one 1 MiB file: indexed in ${(performance.now() - t0).toFixed(0)} ms, its transaction ${longest.toFixed(1)} ms`,
  );
  await indexer.close();
  await store.close();
  console.log(machineLoad());
});
