// Benchmark of a real `loft serve` process over loopback HTTP (undici, keep-alive).
// Usage: node scripts/bench/server.mjs [--runs 5] [--commits 2000] [--polls 300]
// Needs a build (npx tsc -p .). One server and data dir for the whole benchmark; every run uses a
// fresh user (its own namespace, so each run's journal starts empty). A discarded warm-up run
// comes first. Prints the median across runs and every run's value; progress goes to stderr.
import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { parseFlags } from './lib/cli.js';
import { apiCall, type ApiOptions, type Method } from './lib/http.js';
import { startLoftServer } from './lib/loft.js';
import { runBench } from './lib/main.js';
import { machineLoad, median, percentile } from './lib/report.js';

const USAGE = 'usage: node scripts/bench/server.mjs [--runs N] [--commits N] [--polls N]';
const BLOCK = 4096;
const PARALLEL = 8;
const POLL_SETTLE_MS = 10; // lets the long-poll reach the server and register before the commit

// ---- HTTP -----------------------------------------------------------------------------------------

const agentOpts = { keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000 };
const commitAgent = new Agent(agentOpts); // the committing client (and the other measurements)
const pollAgent = new Agent(agentOpts); // the long-polling client: its own connection pool

interface CallOptions extends ApiOptions {
  agent?: Agent;
}
interface Page {
  entries: unknown[];
  cursor: string;
  hasMore: boolean;
}

/** The committing client's pool unless told otherwise. */
const call = <T = unknown>(
  base: string,
  token: string | null,
  method: Method,
  urlPath: string,
  { agent = commitAgent, ...o }: CallOptions = {},
): Promise<T> => apiCall<T>(base, token, method, urlPath, { ...o, agent });

interface Block {
  data: Buffer;
  hash: string;
}
function makeBlocks(n: number): Block[] {
  return Array.from({ length: n }, () => {
    const data = randomBytes(BLOCK);
    return { data, hash: createHash('sha256').update(data).digest('hex') };
  });
}
function commitBody(file: string, { hash }: Block) {
  return { path: file, parentRev: null, blocks: [{ hash, size: BLOCK }], size: BLOCK, mtime: Date.now() };
}

// ---- one run --------------------------------------------------------------------------------------

type Result = Record<string, number>;

async function run(base: string, token: string, commits: number, polls: number): Promise<Result> {
  const api = <T = unknown>(method: Method, p: string, o?: CallOptions) => call<T>(base, token, method, p, o);
  const r: Result = {};
  const pre = makeBlocks(2 * commits + polls); // uploaded untimed: commit-only loops and polls
  const fresh = makeBlocks(commits); // uploaded inside the timed upload+commit loop
  for (const b of pre) await api('PUT', `/v1/blocks/${b.hash}`, { bytes: b.data });

  let t = performance.now();
  for (let i = 0; i < commits; i++)
    await api('POST', '/v1/commit', { json: commitBody(`/seq/f${i}`, pre[i]!) });
  r.commitSeq = commits / ((performance.now() - t) / 1000);

  t = performance.now();
  for (let i = 0; i < commits; i++) {
    await api('PUT', `/v1/blocks/${fresh[i]!.hash}`, { bytes: fresh[i]!.data });
    await api('POST', '/v1/commit', { json: commitBody(`/up/f${i}`, fresh[i]!) });
  }
  r.uploadCommitSeq = commits / ((performance.now() - t) / 1000);

  let next = 0;
  const worker = async (w: number) => {
    for (let i; (i = next++) < commits;)
      await api('POST', '/v1/commit', { json: commitBody(`/par/w${w}/f${i}`, pre[commits + i]!) });
  };
  t = performance.now();
  await Promise.all(Array.from({ length: PARALLEL }, (_, w) => worker(w)));
  r.commitPar = commits / ((performance.now() - t) / 1000);

  let entries = 0;
  let cursor = '';
  t = performance.now();
  for (let more = true; more;) {
    const page = await api<Page>('GET', `/v1/changes?limit=1000${cursor && `&cursor=${cursor}`}`);
    entries += page.entries.length;
    cursor = page.cursor;
    more = page.hasMore;
  }
  r.journal = entries / ((performance.now() - t) / 1000);
  r.journalEntries = entries;

  const fromSend: number[] = [];
  const fromReply: number[] = [];
  for (let i = 0; i < polls; i++) {
    const poll = call<Page>(base, token, 'GET', `/v1/changes/wait?cursor=${cursor}&timeout=30`, {
      agent: pollAgent,
    }).then((page) => ({ page, at: performance.now() }));
    poll.catch(() => {}); // handled when awaited below; avoids an unhandled rejection meanwhile
    await sleep(POLL_SETTLE_MS);
    const t0 = performance.now();
    await api('POST', '/v1/commit', { json: commitBody(`/poll/f${i}`, pre[2 * commits + i]!) });
    const t1 = performance.now();
    const { page, at } = await poll;
    if (page.entries.length === 0) throw new Error('long-poll answered without entries (timed out?)');
    fromSend.push(at - t0);
    fromReply.push(at - t1);
    cursor = page.cursor;
  }
  const stats = (key: string, xs: number[]) =>
    Object.assign(r, {
      [`${key}P50`]: percentile(xs, 50),
      [`${key}P99`]: percentile(xs, 99),
      [`${key}Max`]: Math.max(...xs),
    });
  stats('wakeSend', fromSend);
  stats('wakeReply', fromReply);

  const n = Math.max(commits, 1000);
  t = performance.now();
  for (let i = 0; i < n; i++) await call(base, null, 'GET', '/v1/health');
  r.health = n / ((performance.now() - t) / 1000);
  return r;
}

// ---- main -----------------------------------------------------------------------------------------

const ROWS: [key: string, label: string, unit: string, digits: number][] = [
  ['commitSeq', 'commit only, sequential (4 KiB file, block pre-uploaded)', 'commits/s', 0],
  ['uploadCommitSeq', 'upload+commit, sequential (PUT block + POST commit)', 'files/s', 0],
  ['commitPar', `commit only, ${PARALLEL} parallel clients`, 'commits/s', 0],
  ['wakeSendP50', 'long-poll wake, commit sent → poll answered, p50', 'ms', 2],
  ['wakeSendP99', 'long-poll wake, commit sent → poll answered, p99', 'ms', 2],
  ['wakeSendMax', 'long-poll wake, commit sent → poll answered, max', 'ms', 2],
  ['wakeReplyP50', 'long-poll wake, commit answered → poll answered, p50', 'ms', 2],
  ['wakeReplyP99', 'long-poll wake, commit answered → poll answered, p99', 'ms', 2],
  ['wakeReplyMax', 'long-poll wake, commit answered → poll answered, max', 'ms', 2],
  ['journal', 'journal read, GET /v1/changes pages of 1000', 'entries/s', 0],
  ['health', 'ceiling: GET /v1/health round-trip, sequential', 'requests/s', 0],
];

runBench('server', async ({ work, log }) => {
  const opts = parseFlags(process.argv.slice(2), { runs: 5, commits: 2000, polls: 300 }, USAGE);
  try {
    const srv = await startLoftServer(work);
    log(`server at ${srv.url}, data in ${srv.dataDir}`);
    log('warm-up run (discarded)…');
    const addUser = (name: string) => srv.process.addUser(name);
    await run(srv.url, await addUser('warmup'), Math.min(300, opts.commits), Math.min(30, opts.polls));
    const results: Result[] = [];
    for (let i = 1; i <= opts.runs; i++) {
      log(`run ${i}/${opts.runs}…`);
      results.push(await run(srv.url, await addUser(`bench${i}`), opts.commits, opts.polls));
    }
    const fmt = (v: number, d: number) =>
      v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
    const cpus = os.cpus();
    console.log(
      `Loft server benchmark: ${opts.runs} runs × ${opts.commits} commits, ${opts.polls} long-polls, ` +
        `${results[0]?.journalEntries} journal entries per run (median across runs)\n`,
    );
    console.log('| metric | median | runs (all values) | unit |\n|---|---:|---|---|');
    for (const [key, label, unit, d] of ROWS) {
      const vals = results.map((r) => r[key] ?? NaN);
      console.log(
        `| ${label} | ${fmt(median(vals), d)} | ${vals.map((v) => fmt(v, d)).join(', ')} | ${unit} |`,
      );
    }
    console.log(
      `\nmachine: node ${process.version}, ${cpus[0]?.model.trim() ?? 'unknown cpu'}, ${cpus.length} cores (${os.platform()} ${os.release()})\n${machineLoad()}`,
    );
  } finally {
    await Promise.all([commitAgent.destroy(), pollAgent.destroy()]).catch(() => {});
  }
});
