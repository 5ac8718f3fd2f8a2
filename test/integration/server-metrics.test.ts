/**
 * GET /metrics: the real server in-process (SQLite + local disk under a temp dir), driven over
 * HTTP; each counter is read before and after the requests that should move it, by exact amounts.
 * No sleeps: the long-poll gauge is awaited until it shows the poll (a condition, not a delay).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import t from 'tap';
import { request } from 'undici';
import { addDevice } from '../../src/server/accounts.js';
import { openDataDir, startServer } from '../../src/server/server.js';
import { systemClock } from '../../src/shared/clock.js';
import { sha256hex } from '../../src/shared/hash.js';
import { Api } from '../helpers/api.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-metrics-'));
const stores = openDataDir(dir, { owner: true });
/** The server's clock: moved forward by hand, past the GC grace. */
let now = Date.now();
const server = await startServer({
  stores,
  host: '127.0.0.1',
  port: 0,
  clock: { now: () => now },
  gc: { intervalMs: 0 },
});
t.teardown(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
const { token } = await addDevice(stores.meta, systemClock, 'alice', { createUser: true, device: 'laptop' });
const alice = new Api(server.url, token);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

async function scrape(): Promise<{ text: string; samples: Sample[]; contentType: string }> {
  const res = await request(`${server.url}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /metrics: ${res.statusCode} ${text}`);
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { text, samples, contentType: String(res.headers['content-type']) };
}

/** The sum of a metric's samples whose labels include `labels` (0 when there is none). */
async function value(name: string, labels: Record<string, string> = {}): Promise<number> {
  const { samples } = await scrape();
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/** Polls the metrics until `name` reads `want` (a state the server reaches by itself). */
async function until(name: string, want: number): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    if ((await value(name)) === want) return;
    await tick();
  }
  throw new Error(`${name} never became ${want}`);
}

t.test('Prometheus text format, unauthenticated, with every documented family', async (t) => {
  const { text, contentType } = await scrape();
  t.match(contentType, /^text\/plain; version=0\.0\.4/);
  for (const family of [
    'loft_http_requests_total counter',
    'loft_http_request_duration_seconds histogram',
    'loft_longpolls_open gauge',
    'loft_tree_changes_total counter',
    'loft_block_bytes_in_total counter',
    'loft_block_bytes_out_total counter',
    'loft_block_stored_bytes_total counter',
    'loft_gc_runs_total counter',
    'loft_gc_deleted_blocks_total counter',
    'loft_gc_freed_bytes_total counter',
    'process_cpu_seconds_total counter',
  ]) {
    t.match(text, `# TYPE ${family}`, family);
  }
  t.notMatch(text, token, 'no token in the output');
});

t.test('requests by route template and status, latencies, bytes in and out, commits', async (t) => {
  const route = { method: 'PUT', route: '/v1/blocks/:hash', status: '201' };
  const before = {
    puts: await value('loft_http_requests_total', route),
    putLatency: await value('loft_http_request_duration_seconds_count', {
      method: 'PUT',
      route: route.route,
    }),
    in: await value('loft_block_bytes_in_total'),
    out: await value('loft_block_bytes_out_total'),
    changes: await value('loft_tree_changes_total'),
    none: await value('loft_http_requests_total', { route: 'none', status: '404' }),
    unauth: await value('loft_http_requests_total', { route: '/v1/whoami', status: '401' }),
  };
  const data = randomBytes(10_000);
  t.equal((await alice.putBlock(data)).status, 201);
  const commit = await alice.post('/v1/commit', {
    path: '/m.bin',
    parentRev: null,
    blocks: [{ hash: sha256hex(data), size: data.length }],
    size: data.length,
    mtime: 1,
    mode: 0o644,
  });
  t.equal(commit.status, 200);
  t.equal((await alice.get(`/v1/blocks/${sha256hex(data)}`)).status, 200);
  const range = await alice.call('GET', `/v1/blocks/${sha256hex(data)}`, undefined, { range: 'bytes=0-99' });
  t.equal(range.status, 206);
  t.equal((await alice.get('/no/such/route/abc123')).status, 404);
  t.equal((await new Api(server.url, 'loft_' + 'x'.repeat(43)).get('/v1/whoami')).status, 401);

  t.equal(await value('loft_http_requests_total', route), before.puts + 1, 'one PUT answered 201');
  t.equal(
    await value('loft_http_request_duration_seconds_count', { method: 'PUT', route: route.route }),
    before.putLatency + 1,
    'its latency observed',
  );
  t.equal(await value('loft_block_bytes_in_total'), before.in + data.length, 'bytes in');
  t.equal(await value('loft_block_bytes_out_total'), before.out + data.length + 100, 'bytes out');
  t.equal(await value('loft_tree_changes_total'), before.changes + 1, 'one commit');
  t.equal(
    await value('loft_http_requests_total', { route: 'none', status: '404' }),
    before.none + 1,
    'an unknown URL counts under route="none"',
  );
  t.notMatch((await scrape()).text, 'abc123', 'the URL itself is no label');
  t.equal(
    await value('loft_http_requests_total', { route: '/v1/whoami', status: '401' }),
    before.unauth + 1,
    'a refused request counts with its status',
  );
});

t.test('long-polls open: up while one waits, down once it is answered', async (t) => {
  const cursor = (await alice.get('/v1/changes')).body.cursor as string;
  t.equal(await value('loft_longpolls_open'), 0);
  const poll = alice.get(`/v1/changes/wait?cursor=${cursor}&timeout=120`);
  await until('loft_longpolls_open', 1);
  t.equal((await alice.post('/v1/mkdir', { path: '/wake' })).status, 200);
  const answered = await poll;
  t.equal(answered.status, 200);
  t.equal(answered.body.entries.length, 1, 'woken by the mkdir');
  await until('loft_longpolls_open', 0);
  t.pass('back to 0');
});

t.test('GC runs, blocks deleted and bytes freed', async (t) => {
  const runs = await value('loft_gc_runs_total', { result: 'ok' });
  const deleted = await value('loft_gc_deleted_blocks_total');
  const freed = await value('loft_gc_freed_bytes_total');
  const orphan = randomBytes(5000);
  t.equal((await alice.putBlock(orphan)).status, 201, 'a block no commit will reference');
  now += 2 * 24 * 3_600_000; // past the default 24 h grace
  const report = await server.gc.run();
  t.equal(report.deletedBlocks, 1);
  t.equal(await value('loft_gc_runs_total', { result: 'ok' }), runs + 1, 'one run');
  t.equal(await value('loft_gc_deleted_blocks_total'), deleted + 1, 'one block deleted');
  t.equal(await value('loft_gc_freed_bytes_total'), freed + report.freedBytes, 'its bytes freed');
  t.ok(report.freedBytes >= orphan.length);
  t.equal(await value('loft_gc_runs_total', { result: 'error' }), 0);
  t.ok((await scrape()).text.includes('loft_gc_last_duration_seconds '), 'its duration');
});
