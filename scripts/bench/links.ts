// Share links and quotas against a real `loft serve` process over loopback (issue 13).
// Usage: node scripts/bench/links.mjs [--runs 3] [--mib 256] [--commits 1000]
// Needs a build (npx tsc -p .). Measures, per run:
// - a file link downloaded whole with curl (MB/s), against the same bytes fetched block by block
//   through the signed-in API (GET /v1/blocks/:hash, sequential: what a drive's cold read costs);
// - 64 KiB random ranges through the link (latency p50/p99);
// - the linked folder as a zip stream with curl (MB/s);
// - sequential commits of 4 KiB files (block pre-uploaded) for a user without and with a quota
//   (the quota check sums the owner's live files at each commit).
// Prints medians across runs and every run's values; progress goes to stderr.
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { runLoft } from '../../test/helpers/server-process.js';
import { parseFlags } from './lib/cli.js';
import { startLoftServer } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { execFileP } from './lib/proc.js';
import { machineLoad, median, percentile } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/links.mjs [--runs N] [--mib N] [--commits N]';
const BLOCK = 4 * 1024 * 1024;
const RANGES = 200;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

runBench('links', async ({ work, log }) => {
  const opts = parseFlags(process.argv.slice(2), { runs: 3, mib: 256, commits: 1000 }, USAGE);
  const srv = await startLoftServer(work);
  const agent = new Agent({ connections: 4 });
  const call = async (
    token: string,
    method: 'GET' | 'PUT' | 'POST',
    route: string,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<Buffer> => {
    const res = await request(srv.url + route, {
      method,
      dispatcher: agent,
      headers: { authorization: `Bearer ${token}`, ...headers },
      body,
    });
    const raw = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode >= 300) throw new Error(`${method} ${route}: ${res.statusCode} ${raw.toString()}`);
    return raw;
  };
  const json = <T = unknown>(token: string, route: string, obj: unknown): Promise<T> =>
    call(token, 'POST', route, JSON.stringify(obj), { 'content-type': 'application/json' }).then(
      (r) => JSON.parse(r.toString()) as T,
    );
  const results: Record<string, number[]> = {
    link: [],
    api: [],
    zip: [],
    rangeP50: [],
    rangeP99: [],
    commitNoQuota: [],
    commitQuota: [],
  };
  try {
    for (let run = 0; run < opts.runs; run++) {
      const token = await srv.process.addUser(`u${run}`);
      log(`run ${run + 1}: uploading ${opts.mib} MiB`);
      const blocks: { hash: string; size: number }[] = [];
      for (let i = 0; i < (opts.mib * 1024 * 1024) / BLOCK; i++) {
        const b = randomBytes(BLOCK);
        const hash = sha(b);
        await call(token, 'PUT', `/v1/blocks/${hash}`, b, { 'content-type': 'application/octet-stream' });
        blocks.push({ hash, size: b.length });
      }
      const size = blocks.length * BLOCK;
      await json(token, '/v1/commit', { path: '/share/big.bin', parentRev: null, blocks, size, mtime: 1 });
      const link = await json<{ path: string }>(token, '/v1/links', { path: '/share/big.bin' });
      const folder = await json<{ path: string }>(token, '/v1/links', { path: '/share' });

      let t0 = performance.now();
      await execFileP('curl', ['-sf', '-o', '/dev/null', srv.url + link.path]);
      results.link!.push(size / 1e6 / ((performance.now() - t0) / 1000));

      t0 = performance.now();
      for (const b of blocks) await call(token, 'GET', `/v1/blocks/${b.hash}`);
      results.api!.push(size / 1e6 / ((performance.now() - t0) / 1000));

      t0 = performance.now();
      await execFileP('curl', ['-sf', '-o', '/dev/null', srv.url + folder.path + '/?zip=1']);
      results.zip!.push(size / 1e6 / ((performance.now() - t0) / 1000));

      const lat: number[] = [];
      for (let i = 0; i < RANGES; i++) {
        const start = Math.floor(Math.random() * (size - 65536));
        const s = performance.now();
        const res = await request(srv.url + link.path, {
          dispatcher: agent,
          headers: { range: `bytes=${start}-${start + 65535}` },
        });
        await res.body.arrayBuffer();
        if (res.statusCode !== 206) throw new Error(`range: ${res.statusCode}`);
        lat.push(performance.now() - s);
      }
      lat.sort((a, b) => a - b);
      results.rangeP50!.push(percentile(lat, 50));
      results.rangeP99!.push(percentile(lat, 99));

      for (const quota of [false, true]) {
        const name = `c${run}${quota ? 'q' : 'n'}`;
        const tok = await srv.process.addUser(name);
        if (quota) {
          const r = await runLoft(['user', 'quota', name, '10G', '--data', srv.dataDir]);
          if (r.code !== 0) throw new Error(`loft user quota: ${r.stderr.trim()}`);
        }
        const b = randomBytes(4096);
        const hash = sha(b);
        await call(tok, 'PUT', `/v1/blocks/${hash}`, b, { 'content-type': 'application/octet-stream' });
        t0 = performance.now();
        for (let i = 0; i < opts.commits; i++)
          await json(tok, '/v1/commit', {
            path: `/f${i}`,
            parentRev: null,
            blocks: [{ hash, size: 4096 }],
            size: 4096,
            mtime: 1,
          });
        const rate = opts.commits / ((performance.now() - t0) / 1000);
        (quota ? results.commitQuota! : results.commitNoQuota!).push(rate);
      }
      log(
        `run ${run + 1}: ${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.at(-1)])))}`,
      );
    }
  } finally {
    await agent.close();
  }
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
  for (const [k, v] of Object.entries(results))
    console.log(`${k}: median ${f(median(v))} (runs: ${v.map(f).join(', ')})`);
  console.log(machineLoad());
});
