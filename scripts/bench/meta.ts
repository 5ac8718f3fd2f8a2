// The metadata engines side by side (issue 15): the same domain operations on SQLite (a file, WAL)
// and on PostgreSQL (a throwaway cluster on loopback, as the tests start it), in one process.
// Usage: node scripts/bench/meta.mjs [--runs 3] [--commits 2000] [--concurrency 1,8]
// Needs a build (npx tsc -p .): it uses the stores and the test cluster helper. Prints, per engine and concurrency, the median of --runs of: commits per second
// (each a new 1-block file in one namespace), getNode by path (depth 3) per second, and one
// readJournal page of 1,000 entries, and missingBlocks of 1,000 hashes (an upload's first question).
// The cluster's start time is printed as measured.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { MetadataStore } from '../../src/metastore/metadata-store.js';
import { PostgresMetadataStore } from '../../src/metastore/postgres/postgres-metadata-store.js';
import { SqliteMetadataStore } from '../../src/metastore/sqlite/sqlite-metadata-store.js';
import { testDatabase } from '../../test/helpers/postgres.js';
import { parseFlags } from './lib/cli.js';
import { runBench } from './lib/main.js';
import { machineLoad } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/meta.mjs [--runs N] [--commits N] [--concurrency N,N…]';
// The upper middle, as this bench has always taken.
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const hash = (s: string) => createHash('sha256').update(s).digest('hex');

interface Result {
  commitRate: number;
  getRate: number;
  journalMs: number;
  missingMs: number;
}

async function once(
  open: () => Promise<MetadataStore>,
  concurrency: number,
  commits: number,
): Promise<Result> {
  const store = await open();
  const u = await store.createUser('bench', 1);
  const deviceId = await store.addDevice(u.id, 'd', hash('d'), null, 1);
  const actor = { userId: u.id, deviceId, now: 1 };
  const h = hash('block');
  await store.recordUpload(u.id, h, 5, 5, 1);
  await store.mkdir(actor, { ns: u.homeNs, path: '/a/b', mtime: 1, mode: 0o755, parents: true });
  let next = 0;
  const c0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < commits) {
        const i = next++;
        await store.commitFile(actor, {
          ns: u.homeNs,
          node: { path: `/a/b/f${i}` },
          parentRev: null,
          blocks: [{ hash: h, size: 5 }],
          size: 5,
          mtime: 1,
          mode: 0o644,
        });
      }
    }),
  );
  const commitRate = commits / ((performance.now() - c0) / 1000);
  let got = 0;
  const g0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (got < commits) {
        const i = got++;
        await store.getNode(u.homeNs, { path: `/a/b/f${i}` });
      }
    }),
  );
  const getRate = commits / ((performance.now() - g0) / 1000);
  const j0 = performance.now();
  await store.readJournal(u.homeNs, 0, 1000);
  const journalMs = performance.now() - j0;
  // What an upload of a 1,000-block file asks first: which of these must I send?
  const hashes = Array.from({ length: 1000 }, (_, i) => (i === 0 ? h : hash(`m${i}`)));
  const m0 = performance.now();
  await store.missingBlocks(u.id, hashes);
  const missingMs = performance.now() - m0;
  await store.close();
  return { commitRate, getRate, journalMs, missingMs };
}

runBench('meta', async ({ work }) => {
  const opts = parseFlags(process.argv.slice(2), { runs: 3, commits: 2000, concurrency: ['1', '8'] }, USAGE);
  const { runs, commits } = opts;
  const concurrencies = opts.concurrency.map(Number);
  if (concurrencies.some((c) => !Number.isInteger(c) || c < 1))
    throw new Error(`${USAGE} (bad --concurrency ${opts.concurrency.join(',')})`);
  const t0 = performance.now();
  const db = await testDatabase();
  const clusterMs = Math.round(performance.now() - t0);
  process.env.PGPASSWORD = db.env.PGPASSWORD;
  let n = 0;
  const engines: Record<string, () => Promise<MetadataStore>> = {
    sqlite: async () => new SqliteMetadataStore({ filename: path.join(work, `m${n++}.db`) }),
    postgres: async () => PostgresMetadataStore.open({ url: db.url, schema: `b${n++}`, poolSize: 10 }),
  };
  console.log(
    `PostgreSQL test cluster + database ready in ${clusterMs} ms (cluster start ${db.cluster.startMs} ms)`,
  );
  console.log(
    `engine     conc  commits/s  getNode/s  journal 1000 (ms)  missing of 1000 (ms)   [median of ${runs}, ${commits} commits]`,
  );
  for (const c of concurrencies) {
    for (const [name, open] of Object.entries(engines)) {
      const rs: Result[] = [];
      for (let r = 0; r < runs; r++) rs.push(await once(open, c, commits));
      console.log(
        `${name.padEnd(10)} ${String(c).padStart(4)} ${median(rs.map((r) => r.commitRate))
          .toFixed(0)
          .padStart(10)} ` +
          `${median(rs.map((r) => r.getRate))
            .toFixed(0)
            .padStart(10)} ${median(rs.map((r) => r.journalMs))
            .toFixed(1)
            .padStart(18)} ${median(rs.map((r) => r.missingMs))
            .toFixed(1)
            .padStart(21)}`,
      );
    }
  }
  console.log(machineLoad());
});
