// Benchmark of POST /v1/batch against single requests, on a real `loft serve` process over
// loopback HTTP (undici, keep-alive): N small creates (default 1,000 files of 1 KiB, in one folder)
// made in each of these ways, each run by a fresh user (its own namespace):
//
//   single, sequential     PUT the block, then POST /v1/commit; one file after the other
//   single, 8 in parallel  the same, 8 files at a time
//   commit only            POST /v1/commit one after the other, blocks PUT beforehand (untimed)
//   batch, inline          POST /v1/batch of --batch ops, content inline (no PUT at all)
//   batch, blocks PUT      blocks PUT beforehand (untimed), POST /v1/batch referencing them
//
// Usage: node scripts/bench/batch.mjs [--runs 3] [--files 1000] [--batch 100] [--size 1024]
// Needs a build (npx tsc -p .). A discarded warm-up round comes first. Prints the median of the
// runs and every run's value; progress goes to stderr.
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import { parseFlags, UsageError } from './lib/cli.js';
import { apiCall, type ApiOptions, type Method } from './lib/http.js';
import { startLoftServer } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { machineLoad, median } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/batch.mjs [--runs N] [--files N] [--batch N] [--size BYTES]';
const PARALLEL = 8;

// ---- HTTP -----------------------------------------------------------------------------------------

const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000, connections: 16 });
let requests = 0;

type Api = <T = unknown>(method: Method, urlPath: string, o?: ApiOptions) => Promise<T>;

/** Counts the requests (the table shows how many each way sends). */
function call<T>(
  base: string,
  token: string,
  method: Method,
  urlPath: string,
  o: ApiOptions = {},
): Promise<T> {
  requests++;
  return apiCall<T>(base, token, method, urlPath, { ...o, agent });
}

interface File {
  name: string;
  data: Buffer;
  hash: string;
}
function makeFiles(n: number, size: number): File[] {
  return Array.from({ length: n }, (_, i) => {
    const data = randomBytes(size);
    return { name: `f${i}`, data, hash: createHash('sha256').update(data).digest('hex') };
  });
}
const commitOp = (f: File) => ({
  path: `/d/${f.name}`,
  parentRev: null,
  blocks: [{ hash: f.hash, size: f.data.length }],
  size: f.data.length,
  mtime: Date.now(),
});
const put = (api: Api, f: File) => api('PUT', `/v1/blocks/${f.hash}`, { bytes: f.data });

async function inParallel<T>(items: readonly T[], n: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
    }),
  );
}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

interface Way {
  setup?: (api: Api, files: File[]) => Promise<void>;
  timed: (api: Api, files: File[]) => Promise<void>;
}
type BatchAnswer = { results: { error?: unknown }[] };

/** Each way: set-up (untimed), then the timed part. */
function ways(batch: number): Record<string, Way> {
  const checked = (r: BatchAnswer) => {
    if (r.results.some((x) => x.error)) throw new Error(JSON.stringify(r.results.find((x) => x.error)));
  };
  return {
    'single, sequential': {
      timed: async (api, files) => {
        for (const f of files) {
          await put(api, f);
          await api('POST', '/v1/commit', { json: commitOp(f) });
        }
      },
    },
    [`single, ${PARALLEL} in parallel`]: {
      timed: (api, files) =>
        inParallel(files, PARALLEL, async (f) => {
          await put(api, f);
          await api('POST', '/v1/commit', { json: commitOp(f) });
        }),
    },
    'commit only (blocks PUT before)': {
      setup: (api, files) => inParallel(files, PARALLEL, (f) => put(api, f)),
      timed: async (api, files) => {
        for (const f of files) await api('POST', '/v1/commit', { json: commitOp(f) });
      },
    },
    [`batch of ${batch}, inline`]: {
      timed: async (api, files) => {
        for (const group of chunks(files, batch)) {
          const ops = group.map((f) => ({ op: 'commit', ...commitOp(f), inline: f.data.toString('base64') }));
          checked(await api<BatchAnswer>('POST', '/v1/batch', { json: { ops } }));
        }
      },
    },
    [`batch of ${batch} (blocks PUT before)`]: {
      setup: (api, files) => inParallel(files, PARALLEL, (f) => put(api, f)),
      timed: async (api, files) => {
        for (const group of chunks(files, batch))
          checked(
            await api<BatchAnswer>('POST', '/v1/batch', {
              json: { ops: group.map((f) => ({ op: 'commit', ...commitOp(f) })) },
            }),
          );
      },
    },
  };
}

// ---- main -----------------------------------------------------------------------------------------

runBench('batch', async ({ work, log }) => {
  const opts = parseFlags(process.argv.slice(2), { runs: 3, files: 1000, batch: 100, size: 1024 }, USAGE);
  if (opts.batch > 1000) throw new UsageError(`${USAGE} (--batch: at most 1000 ops per batch)`);
  if (opts.size > 65536) throw new UsageError(`${USAGE} (--size: at most 65536 bytes, the inline limit)`);
  const srv = await startLoftServer(work);
  const base = srv.url;
  // One fresh user per measured round (its own namespace), all made before any round is timed,
  // four `loft user add` processes at a time (each is a process start: seconds on a loaded machine).
  const WAYS = ways(opts.batch);
  const rounds = Object.keys(WAYS).length * (opts.runs + 1);
  const tokens: string[] = [];
  for (let u = 0; u < rounds; u += 4)
    tokens.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(4, rounds - u) }, (_, i) => srv.process.addUser(`u${u + i}`)),
      )),
    );
  let users = 0;
  const once = async (way: Way, n: number) => {
    const token = tokens[users++]!;
    const api: Api = (method, p, o) => call(base, token, method, p, o);
    await api('POST', '/v1/mkdir', { json: { path: '/d' } });
    const files = makeFiles(n, opts.size);
    if (way.setup) await way.setup(api, files);
    const before = requests;
    const t0 = performance.now();
    await way.timed(api, files);
    const ms = performance.now() - t0;
    const sent = requests - before;
    const tree = await api<{ entries: unknown[] }>('GET', '/v1/list?path=/d');
    if (tree.entries.length !== n)
      throw new Error(`expected ${n} files on the server, found ${tree.entries.length}`);
    return { ms, requests: sent };
  };
  try {
    log(`loft serve at ${base}; ${opts.files} files of ${opts.size} B, ${opts.runs} runs (+ warm-up)`);
    for (const way of Object.values(WAYS)) await once(way, Math.min(100, opts.files));
    const results: Record<string, { ms: number; requests: number }[]> = {};
    for (let run = 1; run <= opts.runs; run++) {
      // Ways interleaved per run, so a slow moment of the machine spreads over all of them.
      for (const [name, way] of Object.entries(WAYS)) {
        const r = await once(way, opts.files);
        (results[name] ??= []).push(r);
        log(`run ${run}: ${name}: ${r.ms.toFixed(0)} ms, ${r.requests} requests`);
      }
    }
    const rows = Object.entries(results).map(([name, rs]) => {
      const ms = median(rs.map((r) => r.ms));
      return {
        way: name,
        requests: rs[0]!.requests,
        ms,
        perFile: (ms * 1000) / opts.files,
        filesPerS: (opts.files / ms) * 1000,
        runs: rs.map((r) => r.ms.toFixed(0)).join(' / '),
      };
    });
    const base0 = rows[0]!.ms;
    console.log(
      `\n${opts.files} creates of ${opts.size} B files, loopback, median of ${opts.runs} runs (node ${process.version}, ${os.cpus().length} CPUs)\n`,
    );
    const header = ['way', 'requests', 'total ms', 'µs/file', 'files/s', 'vs single seq', 'runs (ms)'];
    const lines = rows.map((r) => [
      r.way,
      String(r.requests),
      r.ms.toFixed(0),
      r.perFile.toFixed(0),
      r.filesPerS.toFixed(0),
      `${(base0 / r.ms).toFixed(1)}×`,
      r.runs,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const fmt = (cells: string[]) =>
      `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
    console.log(fmt(header));
    console.log(
      `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    );
    for (const l of lines) console.log(fmt(l));
    console.log(`\n${machineLoad()}`);
  } finally {
    await agent.close();
  }
});
