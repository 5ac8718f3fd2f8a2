/**
 * Bad input against ONE real `loft serve` process: every kind of malformed, hostile or unauthorised
 * request gets its documented status and error code (docs/PROTOCOL.md) with a one-line message,
 * changes nothing (journal of every user, tree, block store on disk) and leaves the server answering.
 *
 * Also the possession rule ("Dropship"): knowing a hash, or a node id, never grants content.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { Api, type ApiResponse, DOCUMENTED_CODES } from '../helpers/api.js';
import { ServerProcess } from '../helpers/server-process.js';
import { sha256hex } from '../../src/shared/hash.js';

const MiB = 1024 * 1024;

const server = new ServerProcess();
let alice: Api;
let bob: Api;
let anon: Api;
let aliceNs: number;
let bobNs: number;
let aliceRootId: number;
/** A block alice has uploaded (and may therefore commit). */
const okBlock = Buffer.from('a block alice uploaded during setup\n');
const ok = { hash: sha256hex(okBlock), size: okBlock.length };
/** Alice's file /src.txt and directory /srcdir, created during setup. */
let srcFile: { id: number; rev: number };
let srcDir: { id: number; rev: number };

t.before(async () => {
  await server.start();
  alice = new Api(server.url, await server.addUser('alice'));
  bob = new Api(server.url, await server.addUser('bob'));
  anon = new Api(server.url, null);
  const wa = await alice.get('/v1/whoami');
  const wb = await bob.get('/v1/whoami');
  aliceNs = wa.body.ns;
  aliceRootId = wa.body.rootId;
  bobNs = wb.body.ns;
  if ((await alice.putBlock(okBlock)).status !== 201) throw new Error('setup: block upload failed');
  const f = await alice.post('/v1/commit', commitBody('/src.txt'));
  const d = await alice.post('/v1/mkdir', { path: '/srcdir' });
  if (f.status !== 200 || d.status !== 200) throw new Error(`setup failed: ${f.raw} ${d.raw}`);
  srcFile = { id: f.body.node.id, rev: f.body.rev };
  srcDir = { id: d.body.node.id, rev: d.body.rev };
  // Bob has some history too, so that "nothing changed for bob" means something.
  await bob.writeFile('/bob.txt', [Buffer.from('bob was here')]);
});
t.teardown(() => server.dispose());

// ---- helpers ----------------------------------------------------------------------------------------

/** A commit of alice's uploaded block at `path` that would succeed on its own. */
function commitBody(p: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    path: p,
    parentRev: null,
    blocks: [ok],
    size: ok.size,
    mtime: 1_700_000_000_000,
    mode: 0o644,
    ...extra,
  };
}

const q = encodeURIComponent;

type Answer = Pick<ApiResponse, 'status' | 'body' | 'headers'>;

/** The documented error: exact status and code, JSON, a non-empty message on one line. */
function isError(t: Test, res: Answer, status: number, code: string | RegExp, what: string): void {
  const error = res.body?.error;
  const shape = { status: res.status, code: error?.code };
  if (typeof code === 'string') t.same(shape, { status, code }, what);
  else t.ok(res.status === status && code.test(String(error?.code)), `${what}: ${JSON.stringify(shape)}`);
  t.match(String(res.headers['content-type'] ?? ''), /^application\/json/, `${what}: JSON answer`);
  const message = error?.message;
  t.ok(
    typeof message === 'string' && message.length > 0 && !/[\r\n]/.test(message),
    `${what}: one-line message ${JSON.stringify(message)}`,
  );
}

/** The cursor at the end of the caller's journal. */
async function head(api: Api): Promise<string> {
  let cursor = '';
  for (;;) {
    const r = await api.get(`/v1/changes?limit=10000&cursor=${q(cursor)}`);
    if (r.status !== 200) throw new Error(`GET /v1/changes: ${r.status} ${r.raw}`);
    cursor = r.body.cursor;
    if (!r.body.hasMore) return cursor;
  }
}

/** Every file under the block store (blocks and leftover temp files). */
function storedBlockFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(server.dataDir, p));
    }
  };
  walk(path.join(server.dataDir, 'blocks'));
  return out.sort();
}

interface Snapshot {
  alice: string;
  bob: string;
  blocks: string[];
}

async function snapshot(): Promise<Snapshot> {
  return { alice: await head(alice), bob: await head(bob), blocks: storedBlockFiles() };
}

/** Nothing was journaled for anyone, no block file appeared, and the server still answers health. */
async function unchanged(t: Test, before: Snapshot): Promise<void> {
  for (const [who, api, cursor] of [
    ['alice', alice, before.alice],
    ['bob', bob, before.bob],
  ] as const) {
    const r = await api.get(`/v1/changes?cursor=${q(cursor)}`);
    t.same(
      {
        status: r.status,
        entries: r.body?.entries?.map((e: { op: string; name: string }) => `${e.op} ${e.name}`),
      },
      { status: 200, entries: [] },
      `nothing journaled for ${who}`,
    );
  }
  // A block accepted before the snapshot may still have been pending then (a temp file the
  // server's BlockFlusher renames into place in the background): it may appear under its final
  // name since. Any other new file is a block this request stored, which nobody holds.
  const added = storedBlockFiles().filter((f) => !before.blocks.includes(f));
  const held = async (hash: string) => {
    for (const api of [alice, bob]) {
      const m = await api.post('/v1/blocks/missing', { hashes: [hash] });
      if (m.status === 200 && (m.body as { missing: string[] }).missing.length === 0) return true;
    }
    return false;
  };
  const stray: string[] = [];
  for (const f of added) if (isTemp(f) || !(await held(path.basename(f)))) stray.push(f);
  t.same(stray, [], 'no block file stored');
  const gone = before.blocks.filter((f) => !isTemp(f) && !existsSync(path.join(server.dataDir, f)));
  t.same(gone, [], 'no block file removed');
  await healthy(t);
}

function isTemp(file: string): boolean {
  return file.startsWith(`blocks${path.sep}tmp${path.sep}`);
}

async function healthy(t: Test): Promise<void> {
  const h = await anon.get('/v1/health');
  t.same(
    { status: h.status, body: h.body },
    { status: 200, body: { ok: true } },
    'server still answers /v1/health',
  );
}

async function absent(t: Test, api: Api, p: string): Promise<void> {
  const r = await api.get(`/v1/node?path=${q(p)}`);
  t.equal(r.status, 404, `${JSON.stringify(p.slice(0, 40))} was not created`);
}

/** `missing` still lists the hashes (nobody possesses them) and GET answers 404. */
async function notStored(t: Test, api: Api, hashes: string[]): Promise<void> {
  const m = await api.post('/v1/blocks/missing', { hashes });
  t.same(m.body, { missing: hashes }, 'missing still lists the block(s)');
  for (const h of hashes)
    isError(t, await api.get(`/v1/blocks/${h}`), 404, 'NOT_FOUND', `GET ${h.slice(0, 8)}…`);
}

function parseJson(raw: Buffer): ApiResponse['body'] {
  try {
    return JSON.parse(raw.toString());
  } catch {
    return undefined;
  }
}

/**
 * Sends one request as raw bytes (latin1, nothing normalised or encoded) on a fresh connection and
 * parses the answer; `closed` tells whether the server closed the connection afterwards.
 */
function rawExchange(
  method: string,
  target: string,
): Promise<{ answer: Answer & { raw: Buffer }; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(server.url);
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const split = all.indexOf('\r\n\r\n');
      if (split < 0)
        return reject(new Error(`${method} ${target.slice(0, 40)}: no answer (${all.length} bytes)`));
      const [statusLine = '', ...lines] = all.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const length = Number(headers['content-length'] ?? all.length - split - 4);
      const raw = all.subarray(split + 4, split + 4 + length);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
      resolve({ answer: { status, headers, body: parseJson(raw), raw }, closed });
      socket.destroy();
    };
    // A server that keeps the connection open is done once the answer is complete; give it 1 s.
    const timer = setTimeout(finish, 1000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => (closed = true));
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', () => undefined);
    socket.write(
      Buffer.from(
        `${method} ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
          `Authorization: Bearer ${alice.token}\r\n\r\n`,
        'latin1',
      ),
    );
  });
}

/**
 * A request through node:http that stops sending as soon as the server answers. Over-limit bodies are
 * refused early and the connection closed, which undici reports as EPIPE instead of the answer; this
 * waits for an answer to the headers alone first, then streams the body (chunked when asked).
 */
async function rawRequest(
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body: Buffer,
  options: { chunked?: boolean } = {},
): Promise<Answer & { raw: Buffer }> {
  // The server answers an over-limit body and closes while the body is still being sent: under
  // load, the client's next write can fail (EPIPE, ECONNRESET) before node has read the answer
  // already on the socket. That is the test's transport, not the server's behaviour: try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await rawRequestOnce(method, urlPath, headers, body, options);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt >= 4 || (code !== 'EPIPE' && code !== 'ECONNRESET')) throw err;
    }
  }
}

function rawRequestOnce(
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body: Buffer,
  options: { chunked?: boolean } = {},
): Promise<Answer & { raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ...headers };
    if (!options.chunked) h['content-length'] = String(body.length);
    const req = http.request(server.url + urlPath, { method, headers: h });
    let answered = false;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${method} ${urlPath}: no answer in 60 s`));
    }, 60_000);
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parseJson(raw), raw });
        req.destroy();
      });
    });
    req.on('error', (err) => {
      if (answered) return;
      clearTimeout(timer);
      reject(err);
    });
    req.flushHeaders();
    void (async () => {
      await sleep(200);
      const step = 256 * 1024;
      for (let off = 0; off < body.length && !answered && !req.destroyed; off += step) {
        if (!req.write(body.subarray(off, off + step))) {
          await new Promise<void>((r) => {
            req.once('drain', r);
            req.once('close', r);
          });
        }
      }
      if (!answered && !req.destroyed) req.end();
    })();
  });
}

// ---- malformed bodies --------------------------------------------------------------------------------

const JSON_ROUTES = ['/v1/commit', '/v1/mkdir', '/v1/move', '/v1/delete', '/v1/blocks/missing'];

t.test('malformed JSON: 400 BAD_REQUEST', async (t) => {
  const before = await snapshot();
  const bodies = [
    '{path: "/m.txt"}',
    "{'path': '/m.txt'}",
    '{"path": "/m.txt",}',
    '{"path": "/m.txt" "size": 0}',
    '{"path": "/m.txt"}}',
    'commit please',
    '\u0000',
    '{"path": "/m\u0001.txt"}',
    '{"hashes": [NaN]}',
  ];
  for (const route of JSON_ROUTES) {
    for (const body of bodies) {
      isError(t, await alice.post(route, body), 400, 'BAD_REQUEST', `POST ${route} ${JSON.stringify(body)}`);
    }
  }
  await absent(t, alice, '/m.txt');
  await unchanged(t, before);
});

t.test('truncated JSON: 400 BAD_REQUEST', async (t) => {
  const before = await snapshot();
  const full = JSON.stringify(commitBody('/truncated.txt'));
  for (const n of [1, 2, 10, Math.floor(full.length / 2), full.length - 2, full.length - 1]) {
    const body = full.slice(0, n);
    isError(t, await alice.post('/v1/commit', body), 400, 'BAD_REQUEST', `commit ${JSON.stringify(body)}`);
  }
  const mk = JSON.stringify({ path: '/truncated-dir', parents: true });
  isError(
    t,
    await alice.post('/v1/mkdir', mk.slice(0, -1)),
    400,
    'BAD_REQUEST',
    'mkdir without its last "}"',
  );
  await absent(t, alice, '/truncated.txt');
  await absent(t, alice, '/truncated-dir');
  await unchanged(t, before);
});

t.test('non-object JSON bodies: 400 BAD_REQUEST', async (t) => {
  const before = await snapshot();
  const bodies = [
    '[]',
    JSON.stringify([commitBody('/array.txt')]),
    '42',
    '-1',
    '1e400',
    '"/array.txt"',
    'null',
    'true',
  ];
  for (const route of JSON_ROUTES) {
    for (const body of bodies) {
      isError(t, await alice.post(route, body), 400, 'BAD_REQUEST', `POST ${route} ${body.slice(0, 30)}`);
    }
  }
  await absent(t, alice, '/array.txt');
  await unchanged(t, before);
});

t.test('unknown fields: 400 BAD_REQUEST (body and query)', async (t) => {
  const before = await snapshot();
  const cases: [string, unknown][] = [
    ['/v1/commit', commitBody('/unknown.txt', { foo: 1 })],
    ['/v1/commit', commitBody('/unknown.txt', { blocks: [{ ...ok, offset: 0 }] })],
    ['/v1/commit', commitBody('/unknown.txt', { Size: ok.size })],
    ['/v1/mkdir', { path: '/unknown-dir', parent: true }],
    ['/v1/move', { path: '/src.txt', parentRev: srcFile.rev, toPath: '/unknown.txt', force: true }],
    ['/v1/delete', { path: '/src.txt', parentRev: srcFile.rev, force: true }],
    ['/v1/blocks/missing', { hashes: [ok.hash], all: true }],
  ];
  for (const [route, body] of cases) {
    isError(
      t,
      await alice.post(route, body),
      400,
      'BAD_REQUEST',
      `POST ${route} ${JSON.stringify(body).slice(0, 90)}`,
    );
  }
  // Prototype pollution attempts are unknown fields too.
  for (const extra of ['"__proto__": {"admin": true}', '"constructor": {"prototype": {"admin": true}}']) {
    const body = JSON.stringify(commitBody('/unknown.txt')).replace(/^\{/, `{${extra}, `);
    isError(t, await alice.post('/v1/commit', body), 400, 'BAD_REQUEST', `commit with ${extra}`);
  }
  for (const url of [
    '/v1/node?path=/src.txt&foo=1',
    '/v1/list?path=/&recursive=1',
    '/v1/revisions?id=1&x=',
    '/v1/changes?since=0',
    '/v1/changes/wait?timeout=1&after=0',
    '/v1/tree?cursor=x',
  ]) {
    isError(t, await alice.get(url), 400, 'BAD_REQUEST', `GET ${url}`);
  }
  await absent(t, alice, '/unknown.txt');
  await absent(t, alice, '/unknown-dir');
  const src = await alice.get('/v1/node?path=/src.txt');
  t.same(
    { rev: src.body.rev, deleted: src.body.deleted },
    { rev: srcFile.rev, deleted: false },
    '/src.txt untouched',
  );
  await unchanged(t, before);
});

t.test('wrongly typed fields: 400 BAD_REQUEST, no coercion', async (t) => {
  const before = await snapshot();
  const commits: Record<string, unknown>[] = [
    { size: String(ok.size) },
    { parentRev: '0' },
    { parentRev: false },
    { size: ok.size + 0.5 },
    { mode: true },
    { mode: '0644' },
    { mtime: '1700000000000' },
    { mtime: 1.5 },
    { path: 42 },
    { path: ['/typed.txt'] },
    { blocks: {} },
    { blocks: [ok.hash] },
    { blocks: [{ hash: ok.hash, size: String(ok.size) }] },
    { blocks: [{ hash: 1, size: ok.size }] },
    { id: '1', path: undefined },
    { ns: String(aliceNs) },
  ];
  for (const extra of commits) {
    const body = commitBody('/typed.txt', extra);
    isError(t, await alice.post('/v1/commit', body), 400, 'BAD_REQUEST', `commit ${JSON.stringify(extra)}`);
  }
  const others: [string, unknown][] = [
    ['/v1/mkdir', { path: '/typed-dir', parents: 'yes' }],
    ['/v1/mkdir', { path: '/typed-dir', mode: 493.5 }],
    ['/v1/move', { path: '/src.txt', parentRev: String(srcFile.rev), toPath: '/typed.txt' }],
    ['/v1/move', { path: '/src.txt', parentRev: srcFile.rev, toPath: '/typed.txt', overwrite: 'true' }],
    ['/v1/delete', { path: '/src.txt', parentRev: srcFile.rev, recursive: 1 }],
    ['/v1/blocks/missing', { hashes: ok.hash }],
    ['/v1/blocks/missing', { hashes: [1] }],
  ];
  for (const [route, body] of others) {
    isError(t, await alice.post(route, body), 400, 'BAD_REQUEST', `POST ${route} ${JSON.stringify(body)}`);
  }
  for (const url of [
    '/v1/node?id=abc',
    '/v1/node?id=1.0',
    '/v1/changes?limit=ten',
    '/v1/node?ns=one&path=/',
  ]) {
    isError(t, await alice.get(url), 400, 'BAD_REQUEST', `GET ${url}`);
  }
  await absent(t, alice, '/typed.txt');
  await absent(t, alice, '/typed-dir');
  await unchanged(t, before);
});

t.test('negative size and parentRev: 400 BAD_REQUEST', async (t) => {
  const before = await snapshot();
  const cases: [string, unknown][] = [
    ['/v1/commit', commitBody('/negative.txt', { size: -1 })],
    ['/v1/commit', commitBody('/negative.txt', { parentRev: -1 })],
    [
      '/v1/commit',
      commitBody('/negative.txt', { blocks: [{ hash: ok.hash, size: -ok.size }], size: -ok.size }),
    ],
    ['/v1/commit', commitBody('/negative.txt', { mode: -1 })],
    [
      '/v1/commit',
      { ...commitBody('/negative.txt'), path: undefined, id: -srcFile.id, parentRev: srcFile.rev },
    ],
    ['/v1/move', { path: '/src.txt', parentRev: -1, toPath: '/negative.txt' }],
    ['/v1/move', { path: '/src.txt', parentRev: srcFile.rev, toPath: '/negative.txt', targetRev: -1 }],
    ['/v1/delete', { path: '/src.txt', parentRev: -1 }],
  ];
  for (const [route, body] of cases) {
    isError(t, await alice.post(route, body), 400, 'BAD_REQUEST', `POST ${route} ${JSON.stringify(body)}`);
  }
  await absent(t, alice, '/negative.txt');
  await unchanged(t, before);
});

// ---- paths ----------------------------------------------------------------------------------------------

t.test('hostile paths: 400 BAD_PATH on every route, nothing created', async (t) => {
  const before = await snapshot();
  const long = (n: number, c: string) => c.repeat(n);
  const bad: [string, string][] = [
    ['"." component', '/./p'],
    ['"." last', '/p/.'],
    ['"." under a new dir', '/bad-dir/./p'],
    ['".." component', '/../p'],
    ['".." last', '/p/..'],
    ['".." under a new dir', '/bad-dir/../p'],
    ['empty component', '//p'],
    ['empty component under a new dir', '/bad-dir//p'],
    ['trailing slash', '/p/'],
    ['trailing slash on a new dir', '/bad-dir/'],
    ['NUL', '/p\u0000q'],
    ['NUL in a new dir', '/bad-dir\u0000/p'],
    ['relative', 'p'],
    ['relative with dirs', 'bad-dir/p'],
    ['dot-relative', './p'],
    ['256-byte component', '/' + long(256, 'x')],
    ['256-byte component (2-byte chars)', '/bad-dir/' + long(128, 'é')],
    ['lone surrogate', '/p\uD800'],
    ['path of 4097 bytes', ('/' + long(240, 'd')).repeat(17)],
    ['path of ~5000 bytes', '/bad-dir' + ('/' + long(200, 'y')).repeat(24)],
  ];
  for (const [what, p] of bad) {
    t.ok(Buffer.byteLength(p) <= 8192, `${what} stays below the schema bound`);
    const posts: [string, unknown][] = [
      ['/v1/commit', commitBody(p)],
      ['/v1/mkdir', { path: p, parents: true }],
      ['/v1/move', { path: '/src.txt', parentRev: srcFile.rev, toPath: p }],
      ['/v1/move', { path: p, parentRev: 1, toPath: '/moved.txt' }],
      ['/v1/delete', { path: p, parentRev: 1 }],
    ];
    for (const [route, body] of posts)
      isError(t, await alice.post(route, body), 400, 'BAD_PATH', `${what}: ${route}`);
    // A lone surrogate cannot be percent-encoded as UTF-8: it only travels in JSON.
    if (!p.isWellFormed()) continue;
    for (const route of ['/v1/node', '/v1/list', '/v1/revisions']) {
      isError(t, await alice.get(`${route}?path=${q(p)}`), 400, 'BAD_PATH', `${what}: GET ${route}`);
    }
  }
  await absent(t, alice, '/bad-dir');
  await absent(t, alice, '/p');
  await absent(t, alice, '/' + long(240, 'd'));
  const src = await alice.get('/v1/node?path=/src.txt');
  t.same(
    { rev: src.body.rev, name: src.body.name },
    { rev: srcFile.rev, name: 'src.txt' },
    '/src.txt not moved',
  );
  await unchanged(t, before);

  // The limits themselves are accepted: 255-byte components, a 4096-byte path.
  const name255 = long(255, 'x');
  const name255u = long(127, 'é') + 'x';
  const path4096 = ('/' + long(255, 'a')).repeat(16);
  t.equal(Buffer.byteLength(name255u), 255);
  t.equal(Buffer.byteLength(path4096), 4096);
  const c1 = await alice.post('/v1/commit', commitBody('/' + name255));
  t.equal(c1.status, 200, '255-byte name accepted');
  t.equal(c1.body?.node?.name, name255, 'stored unchanged');
  const m1 = await alice.post('/v1/mkdir', { path: '/' + name255u });
  t.equal(m1.status, 200, '255-byte name of 2-byte characters accepted');
  t.equal(m1.body?.node?.name, name255u);
  const c2 = await alice.post('/v1/commit', commitBody(path4096));
  t.equal(c2.status, 200, '4096-byte path accepted');
  const n = await alice.get(`/v1/node?path=${q(path4096)}`);
  t.same(
    { status: n.status, size: n.body?.size },
    { status: 200, size: ok.size },
    'and readable by that path',
  );
  await healthy(t);
});

// ---- hashes and blocks -----------------------------------------------------------------------------------

t.test('invalid hashes: 400 BAD_HASH on PUT and GET, 400 on /blocks/missing', async (t) => {
  const before = await snapshot();
  const data = Buffer.from('bytes for the invalid-hash test');
  const real = sha256hex(data);
  const bad: [string, string][] = [
    ['upper-case', real.toUpperCase()],
    ['one upper-case digit', real.slice(0, 63) + 'F'],
    ['short (63)', real.slice(0, 63)],
    ['long (65)', real + '0'],
    ['non-hex', 'g'.repeat(64)],
    ['0x prefix', '0x' + real.slice(2)],
    ['spaces', ' '.repeat(64)],
    ['"missing"', 'missing'],
    // (A bare ".." cannot be sent: URL parsers resolve it, even as %2E%2E, before the server sees it.)
    ['path traversal', '../../etc/passwd'],
  ];
  for (const [what, h] of bad) {
    const enc = q(h);
    isError(t, await alice.call('PUT', `/v1/blocks/${enc}`, data), 400, 'BAD_HASH', `PUT ${what}`);
    isError(t, await alice.get(`/v1/blocks/${enc}`), 400, 'BAD_HASH', `GET ${what}`);
    // A hash that is not one is a wrongly typed field here; PROTOCOL.md allows BAD_HASH or BAD_REQUEST.
    const m = await alice.post('/v1/blocks/missing', { hashes: [ok.hash, h] });
    isError(t, m, 400, /^(BAD_HASH|BAD_REQUEST)$/, `missing with ${what}`);
    const c = await alice.post(
      '/v1/commit',
      commitBody('/hash.txt', { blocks: [{ hash: h, size: ok.size }] }),
    );
    isError(t, c, 400, /^(BAD_HASH|BAD_REQUEST)$/, `commit with ${what}`);
  }
  // An upper-case PUT of the right bytes stored nothing under either spelling.
  await notStored(t, alice, [real]);
  await absent(t, alice, '/hash.txt');
  await unchanged(t, before);
});

t.test('a block whose bytes do not match its hash: 400 HASH_MISMATCH, nothing stored', async (t) => {
  const before = await snapshot();
  const sent = Buffer.from('the bytes actually sent');
  const claimed = sha256hex(Buffer.from('the bytes the hash belongs to'));
  const actual = sha256hex(sent);
  isError(t, await alice.call('PUT', `/v1/blocks/${claimed}`, sent), 400, 'HASH_MISMATCH', 'PUT mismatched');
  isError(
    t,
    await alice.call('PUT', `/v1/blocks/${claimed}`, Buffer.alloc(0)),
    400,
    'HASH_MISMATCH',
    'PUT empty',
  );
  // Claiming the hash of a block that exists must not replace it either.
  isError(
    t,
    await alice.call('PUT', `/v1/blocks/${ok.hash}`, sent),
    400,
    'HASH_MISMATCH',
    'PUT over an existing hash',
  );
  await notStored(t, alice, [claimed, actual]);
  const kept = await alice.get(`/v1/blocks/${ok.hash}`);
  t.ok(kept.status === 200 && kept.raw.equals(okBlock), 'the existing block still has its own bytes');
  const c = await alice.post(
    '/v1/commit',
    commitBody('/mismatch.txt', { blocks: [{ hash: claimed, size: sent.length }], size: sent.length }),
  );
  isError(t, c, 400, 'BLOCK_UNUSABLE', 'cannot commit the rejected block');
  await unchanged(t, before);
});

t.test('a block over 8 MiB: 413 TOO_LARGE, nothing stored', async (t) => {
  const before = await snapshot();
  const big = randomBytes(8 * MiB + 1);
  const hash = sha256hex(big);
  const ct = { authorization: `Bearer ${alice.token}`, 'content-type': 'application/octet-stream' };
  isError(t, await rawRequest('PUT', `/v1/blocks/${hash}`, ct, big), 413, 'TOO_LARGE', 'with Content-Length');
  isError(
    t,
    await rawRequest('PUT', `/v1/blocks/${hash}`, ct, big, { chunked: true }),
    413,
    'TOO_LARGE',
    'chunked',
  );
  await notStored(t, alice, [hash]);
  await unchanged(t, before);

  // Exactly 8 MiB is accepted.
  const max = big.subarray(0, 8 * MiB);
  const put = await alice.putBlock(max);
  t.equal(put.status, 201, 'exactly 8 MiB accepted');
  const back = await alice.get(`/v1/blocks/${put.hash}`);
  t.ok(back.status === 200 && back.raw.equals(max), 'and read back intact');
  await healthy(t);
});

t.test('a block PUT cut off mid-body: nothing stored, and the same block goes through after', async (t) => {
  const before = await snapshot();
  const block = randomBytes(MiB);
  const hash = sha256hex(block);
  const { hostname, port } = new URL(server.url);
  const socket = net.connect(Number(port), hostname);
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const head =
    `PUT /v1/blocks/${hash} HTTP/1.1\r\nhost: ${hostname}\r\n` +
    `authorization: Bearer ${alice.token}\r\ncontent-type: application/octet-stream\r\n` +
    `content-length: ${block.length}\r\n\r\n`;
  // Half the body (several socket reads on the server), then the connection is gone.
  await new Promise<void>((resolve) => socket.write(Buffer.from(head, 'latin1'), () => resolve()));
  await new Promise<void>((resolve) => socket.write(block.subarray(0, block.length / 2), () => resolve()));
  socket.destroy();
  await notStored(t, alice, [hash]);
  await unchanged(t, before);
  const put = await alice.putBlock(block);
  t.equal(put.status, 201, 'the whole block is then accepted');
  const back = await alice.get(`/v1/blocks/${hash}`);
  t.ok(back.status === 200 && back.raw.equals(block), 'and read back intact');
  await healthy(t);
});

t.test('a JSON body over 32 MiB (a batch over 16 MiB): 413 TOO_LARGE', async (t) => {
  const before = await snapshot();
  const headers = { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' };
  // Valid JSON, so only its size is wrong: a commit with one hash repeated and a missing request.
  const blocks = Array.from({ length: Math.ceil((33 * MiB) / 80) }, () => ok);
  const commit = Buffer.from(
    JSON.stringify(commitBody('/huge.txt', { blocks, size: ok.size * blocks.length })),
  );
  const missing = Buffer.from(JSON.stringify({ hashes: [ok.hash], pad: 'x'.repeat(32 * MiB) }));
  t.ok(commit.length > 32 * MiB && missing.length > 32 * MiB, 'bodies are over 32 MiB');
  isError(t, await rawRequest('POST', '/v1/commit', headers, commit), 413, 'TOO_LARGE', 'commit');
  isError(
    t,
    await rawRequest('POST', '/v1/commit', headers, commit, { chunked: true }),
    413,
    'TOO_LARGE',
    'chunked commit',
  );
  isError(t, await rawRequest('POST', '/v1/blocks/missing', headers, missing), 413, 'TOO_LARGE', 'missing');
  // A batch has a lower limit (16 MiB): a valid batch of one mkdir, padded past it.
  const batch = Buffer.from(
    JSON.stringify({ ops: [{ op: 'mkdir', path: '/huge-batch', pad: 'x'.repeat(17 * MiB) }] }),
  );
  isError(t, await rawRequest('POST', '/v1/batch', headers, batch), 413, 'TOO_LARGE', 'batch over 16 MiB');
  await absent(t, alice, '/huge-batch');
  await absent(t, alice, '/huge.txt');
  await unchanged(t, before);
});

t.test('PUT block with the wrong Content-Type: 415 UNSUPPORTED_MEDIA_TYPE', async (t) => {
  const before = await snapshot();
  const data = Buffer.from('{"a block":"that happens to be JSON"}');
  const hash = sha256hex(data);
  for (const type of [
    'text/plain',
    'application/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=xyz',
    'image/png',
    'application/octet',
  ]) {
    const r = await alice.call('PUT', `/v1/blocks/${hash}`, data, { 'content-type': type });
    isError(t, r, 415, 'UNSUPPORTED_MEDIA_TYPE', type);
  }
  const none = await rawRequest(
    'PUT',
    `/v1/blocks/${hash}`,
    { authorization: `Bearer ${alice.token}` },
    data,
  );
  isError(t, none, 415, 'UNSUPPORTED_MEDIA_TYPE', 'no Content-Type');
  await notStored(t, alice, [hash]);
  await unchanged(t, before);
});

// ---- commits --------------------------------------------------------------------------------------------

t.test('a commit whose blocks do not add up to its size: 400 BAD_REQUEST', async (t) => {
  const before = await snapshot();
  const cases: Record<string, unknown>[] = [
    { size: ok.size + 1 },
    { size: ok.size - 1 },
    { size: 0 },
    { blocks: [], size: ok.size },
    { blocks: [ok, ok], size: ok.size },
    // A block ref with a size other than the block's true size.
    { blocks: [{ hash: ok.hash, size: ok.size + 1 }], size: ok.size + 1 },
    { blocks: [{ hash: ok.hash, size: 0 }], size: 0 },
  ];
  for (const extra of cases) {
    const r = await alice.post('/v1/commit', commitBody('/size.txt', extra));
    isError(t, r, 400, 'BAD_REQUEST', JSON.stringify(extra).replaceAll(ok.hash, 'OK'));
  }
  // Also when replacing an existing file.
  const r = await alice.post(
    '/v1/commit',
    commitBody('/src.txt', { parentRev: srcFile.rev, size: ok.size * 2 }),
  );
  isError(t, r, 400, 'BAD_REQUEST', 'update of /src.txt');
  await absent(t, alice, '/size.txt');
  await unchanged(t, before);
});

t.test('a commit referencing a block never sent: 400 BLOCK_UNUSABLE with missing', async (t) => {
  const before = await snapshot();
  const never = sha256hex(randomBytes(32));
  const never2 = sha256hex(randomBytes(32));
  const one = await alice.post(
    '/v1/commit',
    commitBody('/unsent.txt', { blocks: [{ hash: never, size: 10 }], size: 10 }),
  );
  isError(t, one, 400, 'BLOCK_UNUSABLE', 'one unknown block');
  t.same(one.body?.error?.missing, [never], 'missing lists it');
  const blocks = [ok, { hash: never, size: 5 }, { hash: never2, size: 5 }, { hash: never, size: 5 }];
  const mixed = await alice.post('/v1/commit', commitBody('/unsent.txt', { blocks, size: ok.size + 15 }));
  isError(t, mixed, 400, 'BLOCK_UNUSABLE', 'known and unknown blocks');
  t.same(mixed.body?.error?.missing, [never, never2], 'missing lists only the unknown ones, once each');
  await absent(t, alice, '/unsent.txt');
  await unchanged(t, before);
});

t.test('"path" and "id" both or neither: 400 BAD_REQUEST', async (t) => {
  const before = await snapshot();
  const { path: _p, ...neither } = commitBody('/x');
  const cases: [string, unknown][] = [
    ['/v1/commit', commitBody('/src.txt', { id: srcFile.id, parentRev: srcFile.rev })],
    ['/v1/commit', { ...neither, parentRev: srcFile.rev }],
    ['/v1/move', { path: '/src.txt', id: srcFile.id, parentRev: srcFile.rev, toPath: '/both.txt' }],
    ['/v1/move', { parentRev: srcFile.rev, toPath: '/both.txt' }],
    ['/v1/delete', { path: '/src.txt', id: srcFile.id, parentRev: srcFile.rev }],
    ['/v1/delete', { parentRev: srcFile.rev }],
  ];
  for (const [route, body] of cases) {
    isError(
      t,
      await alice.post(route, body),
      400,
      'BAD_REQUEST',
      `POST ${route} ${JSON.stringify(body).slice(0, 80)}`,
    );
  }
  for (const route of ['/v1/node', '/v1/list', '/v1/revisions']) {
    isError(
      t,
      await alice.get(`${route}?path=/srcdir&id=${srcDir.id}`),
      400,
      'BAD_REQUEST',
      `GET ${route} both`,
    );
    isError(t, await alice.get(route), 400, 'BAD_REQUEST', `GET ${route} neither`);
  }
  await absent(t, alice, '/both.txt');
  await unchanged(t, before);
});

// ---- authentication --------------------------------------------------------------------------------------

t.test('missing, malformed or unknown token: 401 UNAUTHORIZED with WWW-Authenticate', async (t) => {
  const before = await snapshot();
  const token = alice.token!;
  const fresh = Buffer.from('uploaded without a valid token');
  const freshHash = sha256hex(fresh);
  const headers: [string, string | null][] = [
    ['no header', null],
    ['Basic', `Basic ${Buffer.from('alice:secret').toString('base64')}`],
    ['Basic with the token', `Basic ${token}`],
    ['"Bearer" alone', 'Bearer'],
    ['"Bearer " and nothing', 'Bearer '],
    ['token without scheme', token],
    ['garbage token', 'Bearer garbage'],
    ['token with an extra character', `Bearer ${token}x`],
    ['token cut short', `Bearer ${token.slice(0, -1)}`],
    ['two tokens', `Bearer ${token} ${token}`],
    ['wrong prefix', `Bearer ${token.replace(/^loft_/, 'lift_')}`],
    ['well-formed unknown token', `Bearer loft_${randomBytes(32).toString('base64url')}`],
  ];
  for (const [what, auth] of headers) {
    const api = new Api(server.url, null);
    const h: Record<string, string> = auth === null ? {} : { authorization: auth };
    const requests: [string, Promise<ApiResponse>][] = [
      ['GET /v1/whoami', api.call('GET', '/v1/whoami', undefined, h)],
      ['GET /v1/node', api.call('GET', '/v1/node?path=/src.txt', undefined, h)],
      ['GET /v1/changes', api.call('GET', '/v1/changes', undefined, h)],
      ['GET /v1/tree', api.call('GET', '/v1/tree', undefined, h)],
      ['GET block', api.call('GET', `/v1/blocks/${ok.hash}`, undefined, h)],
      ['PUT block', api.call('PUT', `/v1/blocks/${freshHash}`, fresh, h)],
      ['POST /v1/commit', api.call('POST', '/v1/commit', commitBody('/unauth.txt'), h)],
      ['POST /v1/mkdir', api.call('POST', '/v1/mkdir', { path: '/unauth-dir' }, h)],
    ];
    for (const [route, p] of requests) {
      const r = await p;
      isError(t, r, 401, 'UNAUTHORIZED', `${what}: ${route}`);
      t.match(r.headers['www-authenticate'], /^Bearer\b/, `${what}: ${route}: WWW-Authenticate`);
      t.notOk(r.raw.includes(okBlock), `${what}: ${route}: no content leaked`);
    }
  }
  await notStored(t, alice, [freshHash]);
  await absent(t, alice, '/unauth.txt');
  await absent(t, alice, '/unauth-dir');
  await unchanged(t, before);
});

t.test('an expired token: 401 UNAUTHORIZED', async (t) => {
  const before = await snapshot();
  const t0 = Date.now();
  const token = await server.addToken('alice', ['--ttl', '1s']);
  const issued = Date.now();
  const api = new Api(server.url, token);
  if (Date.now() - t0 < 700) {
    const w = await api.get('/v1/whoami');
    t.equal(w.status, 200, 'the token works before it expires');
  }
  // It expires at most 1 s after the CLI returned.
  await sleep(Math.max(0, issued + 1200 - Date.now()));
  for (const [route, p] of [
    ['whoami', api.get('/v1/whoami')],
    ['node', api.get('/v1/node?path=/src.txt')],
    ['commit', api.post('/v1/commit', commitBody('/expired.txt'))],
  ] as const) {
    const r = await p;
    isError(t, r, 401, 'UNAUTHORIZED', `expired token: ${route}`);
    t.match(r.headers['www-authenticate'], /^Bearer\b/, `${route}: WWW-Authenticate`);
  }
  await absent(t, alice, '/expired.txt');
  await unchanged(t, before);
});

// ---- journal ---------------------------------------------------------------------------------------------

t.test('cursors never issued: 400 BAD_CURSOR', async (t) => {
  const before = await snapshot();
  const cursorFor = (ns: number, seq: number) => 'c' + Buffer.from(`v1:${ns}:${seq}`).toString('base64url');
  const head0 = await head(alice);
  const headSeq = (await alice.get('/v1/changes')).body.entries.at(-1).rev as number;
  t.equal(cursorFor(aliceNs, headSeq), head0, "the hand-made cursor format is the server's");
  const bobCursor = (await bob.get('/v1/changes')).body.cursor as string;
  t.not(bobCursor, head0);
  const bad: [string, string][] = [
    ['garbage', 'garbage'],
    ['"c" alone', 'c'],
    ['bad base64url', 'c!!!!'],
    ['numeric', String(headSeq)],
    ['other version', 'c' + Buffer.from(`v2:${aliceNs}:1`).toString('base64url')],
    ['negative seq', 'c' + Buffer.from(`v1:${aliceNs}:-1`).toString('base64url')],
    ['trailing junk', head0 + '!'],
    ["bob's cursor", bobCursor],
    ["bob's namespace, seq 0", cursorFor(bobNs, 0)],
    ['an unknown namespace', cursorFor(999, 0)],
    ['one ahead of the head', cursorFor(aliceNs, headSeq + 1)],
    ['far ahead of the head', cursorFor(aliceNs, 999_999_999_999_999)],
  ];
  for (const [what, cursor] of bad) {
    isError(t, await alice.get(`/v1/changes?cursor=${q(cursor)}`), 400, 'BAD_CURSOR', `changes: ${what}`);
    const start = Date.now();
    const w = await alice.get(`/v1/changes/wait?timeout=2&cursor=${q(cursor)}`);
    isError(t, w, 400, 'BAD_CURSOR', `wait: ${what}`);
    t.ok(Date.now() - start < 1500, `wait: ${what}: answered at once, not after the timeout`);
  }
  // Bob's own cursor still works for bob, alice's head for alice.
  t.equal((await bob.get(`/v1/changes?cursor=${q(bobCursor)}`)).status, 200);
  t.same((await alice.get(`/v1/changes?cursor=${q(head0)}`)).body?.entries, []);
  await unchanged(t, before);
});

t.test('bad limit and timeout: 400 BAD_REQUEST without waiting', async (t) => {
  const before = await snapshot();
  const urls = [
    '/v1/changes?limit=0',
    '/v1/changes?limit=10001',
    '/v1/changes?limit=100000',
    '/v1/changes?limit=-1',
    '/v1/changes?limit=',
    '/v1/changes/wait?limit=0&timeout=2',
    '/v1/changes/wait?limit=100000&timeout=2',
    '/v1/changes/wait?timeout=301',
    '/v1/changes/wait?timeout=9999',
    '/v1/changes/wait?timeout=-1',
    '/v1/changes/wait?timeout=1e3',
    '/v1/changes/wait?timeout=soon',
    '/v1/tree?limit=0',
    '/v1/tree?limit=10001',
    '/v1/tree?after=-1',
    '/v1/tree?after=abc',
  ];
  for (const url of urls) {
    const start = Date.now();
    isError(t, await alice.get(url), 400, 'BAD_REQUEST', `GET ${url}`);
    t.ok(Date.now() - start < 1500, `GET ${url}: answered at once`);
  }
  // The bounds themselves are accepted (no cursor: the journal is non-empty, so no waiting).
  for (const url of [
    '/v1/changes?limit=1',
    '/v1/changes?limit=10000',
    '/v1/changes/wait?timeout=300&limit=10000',
    '/v1/tree?limit=1',
    '/v1/tree?limit=10000&after=0',
  ]) {
    t.equal((await alice.get(url)).status, 200, `GET ${url} accepted`);
  }
  await unchanged(t, before);
});

// ---- namespaces -----------------------------------------------------------------------------------------

t.test(
  'a namespace the caller has no role in: 403 FORBIDDEN, same answer as a nonexistent one',
  async (t) => {
    const before = await snapshot();
    const answers = new Map<string, string>();
    for (const ns of [999, bobNs]) {
      const posts: [string, unknown][] = [
        ['/v1/commit', commitBody('/ns.txt', { ns })],
        ['/v1/mkdir', { ns, path: '/ns-dir' }],
        ['/v1/move', { ns, path: '/bob.txt', parentRev: 1, toPath: '/ns.txt' }],
        ['/v1/delete', { ns, path: '/bob.txt', parentRev: 1 }],
        ['/v1/blocks/missing', { ns, hashes: [ok.hash] }],
      ];
      for (const [route, body] of posts) {
        const r = await alice.post(route, body);
        isError(t, r, 403, 'FORBIDDEN', `ns ${ns}: POST ${route}`);
        const key = `POST ${route}`;
        const shape = JSON.stringify(r.body).replaceAll(String(ns), 'N');
        if (answers.has(key))
          t.equal(shape, answers.get(key), `${key}: no difference between ns 999 and bob's`);
        else answers.set(key, shape);
      }
      for (const url of [
        `/v1/node?ns=${ns}&path=/bob.txt`,
        `/v1/list?ns=${ns}&path=/`,
        `/v1/revisions?ns=${ns}&path=/bob.txt`,
        `/v1/changes?ns=${ns}`,
        `/v1/changes/wait?ns=${ns}&timeout=1`,
        `/v1/tree?ns=${ns}`,
      ]) {
        const r = await alice.get(url);
        isError(t, r, 403, 'FORBIDDEN', `GET ${url}`);
        t.notOk(r.raw.toString().includes('bob.txt'), `GET ${url}: nothing of bob's leaked`);
      }
    }
    await absent(t, bob, '/ns.txt');
    await absent(t, alice, '/ns.txt');
    t.equal((await bob.get('/v1/node?path=/bob.txt')).body?.deleted, false, "bob's file untouched");
    await unchanged(t, before);
  },
);

// ---- routes and URLs ------------------------------------------------------------------------------------

t.test('unknown route: 404 NOT_FOUND as JSON', async (t) => {
  const before = await snapshot();
  const cases: [Parameters<Api['call']>[0], string][] = [
    ['GET', '/index.html'], // `/` itself is the web page (web-routes.ts)
    ['GET', '/v1'],
    ['GET', '/v1/nope'],
    ['GET', '/v2/whoami'],
    ['GET', '/v1/blocks'],
    ['POST', '/v1/commits'],
    ['GET', '/v1/commit'],
    ['PATCH', '/v1/commit'],
    ['DELETE', '/v1/node?path=/src.txt'],
    ['POST', `/v1/blocks/${ok.hash}`],
    ['DELETE', `/v1/blocks/${ok.hash}`],
    ['PUT', '/v1/mkdir'],
  ];
  for (const [method, url] of cases) {
    const body = method === 'GET' || method === 'DELETE' ? undefined : commitBody('/route.txt');
    isError(t, await alice.call(method, url, body), 404, 'NOT_FOUND', `${method} ${url}`);
  }
  await absent(t, alice, '/route.txt');
  const src = await alice.get('/v1/node?path=/src.txt');
  t.equal(src.body?.deleted, false, '/src.txt not deleted');
  await unchanged(t, before);
});

t.test('malformed URLs get the documented error shape too', async (t) => {
  const before = await snapshot();
  const urls = [
    '/v1/blocks/%ZZ',
    '/v1/blocks/%E0%A4%A',
    '/v1/%ZZ/node',
    `/v1/blocks/${'a'.repeat(200)}`,
    `/v1/node?path=/${'x'.repeat(20_000)}`,
    // Raw (not percent-encoded) bytes >= 0x80 in the request target: rejected by Node's HTTP parser.
    '/v1/whoami?x=\u00e9',
  ];
  for (const url of urls) {
    const { answer: r, closed } = await rawExchange('GET', url);
    const what = `GET ${JSON.stringify(url.slice(0, 40))}${url.length > 40 ? '…' : ''}`;
    const error = r.body?.error;
    // A server that hangs up after answering must say so, or a keep-alive client sends its next
    // request into the closing connection and gets ECONNRESET instead of an answer.
    if (closed) t.equal(r.headers.connection, 'close', `${what}: "Connection: close" before closing`);
    t.ok(r.status >= 400 && r.status < 500, `${what}: 4xx (${r.status})`);
    t.ok(
      typeof error === 'object' && error !== null && DOCUMENTED_CODES.has(error.code),
      `${what}: {"error": {"code": <documented code>}}, got ${r.raw.toString().slice(0, 120)}`,
    );
    t.ok(
      typeof error?.message === 'string' && !/[\r\n]/.test(error.message),
      `${what}: a one-line message string`,
    );
  }
  await unchanged(t, before);
});

t.test('error messages quoting a path with a newline stay on one line', async (t) => {
  // "\n" is a legal name character; the message must still be one line.
  const before = await snapshot();
  isError(t, await alice.get(`/v1/node?path=${q('/no\nsuch')}`), 404, 'NOT_FOUND', 'GET node');
  isError(t, await alice.get(`/v1/list?path=${q('/no\r\nsuch')}`), 404, 'NOT_FOUND', 'GET list');
  isError(t, await alice.post('/v1/mkdir', { path: '/no\nsuch/dir' }), 404, 'NOT_FOUND', 'mkdir under it');
  isError(
    t,
    await alice.post('/v1/delete', { path: '/no\nsuch', parentRev: 1 }),
    404,
    'NOT_FOUND',
    'delete it',
  );
  await unchanged(t, before);
});

// ---- possession --------------------------------------------------------------------------------------------

t.test('Dropship: knowing a hash grants nothing until you upload the bytes yourself', async (t) => {
  const x = Buffer.from(`alice's secret ${randomBytes(16).toString('hex')}`);
  const X = sha256hex(x);
  const random = sha256hex(randomBytes(32));
  t.equal((await alice.putBlock(x)).status, 201, 'alice uploads X');
  const ca = await alice.post('/v1/commit', {
    path: '/secret.txt',
    parentRev: null,
    blocks: [{ hash: X, size: x.length }],
    size: x.length,
    mtime: 1,
  });
  t.equal(ca.status, 200, 'alice commits X');

  const before = await snapshot();
  // (a) missing: X is as missing for bob as a hash nobody has.
  const m = await bob.post('/v1/blocks/missing', { hashes: [X, random] });
  t.same(m.body, { missing: [X, random] }, 'bob must send X: no leak');
  // (b) GET: the same 404 as for an absent block.
  const gx = await bob.get(`/v1/blocks/${X}`);
  const gr = await bob.get(`/v1/blocks/${random}`);
  isError(t, gx, 404, 'NOT_FOUND', 'bob GET X');
  t.notOk(gx.raw.includes(x), 'no content');
  t.same(
    { status: gx.status, ct: gx.headers['content-type'], body: JSON.stringify(gx.body).replaceAll(X, 'H') },
    {
      status: gr.status,
      ct: gr.headers['content-type'],
      body: JSON.stringify(gr.body).replaceAll(random, 'H'),
    },
    'indistinguishable from an absent block',
  );
  // HEAD too (fastify answers HEAD for GET routes).
  t.equal((await bob.call('HEAD', `/v1/blocks/${X}`)).status, 404, 'bob HEAD X: 404');
  // (c) commit: BLOCK_UNUSABLE, exactly as for an absent block.
  const cb = await bob.post('/v1/commit', {
    path: '/stolen.txt',
    parentRev: null,
    blocks: [{ hash: X, size: x.length }],
    size: x.length,
    mtime: 1,
  });
  isError(t, cb, 400, 'BLOCK_UNUSABLE', 'bob commits X');
  t.same(cb.body?.error?.missing, [X], 'missing: [X]');
  await absent(t, bob, '/stolen.txt');
  await unchanged(t, before);

  // Once bob has sent the bytes himself, X is his to use.
  const put = await bob.putBlock(x);
  t.ok(put.status === 200 || put.status === 201, `bob uploads X (${put.status})`);
  t.same(
    (await bob.post('/v1/blocks/missing', { hashes: [X, random] })).body,
    { missing: [random] },
    'X no longer missing for bob',
  );
  const cb2 = await bob.post('/v1/commit', {
    path: '/mine.txt',
    parentRev: null,
    blocks: [{ hash: X, size: x.length }],
    size: x.length,
    mtime: 1,
  });
  t.equal(cb2.status, 200, 'bob commits X');
  const g = await bob.get(`/v1/blocks/${X}`);
  t.ok(g.status === 200 && g.raw.equals(x), 'bob reads X');
  // A wrong size is still refused even for a block he has.
  const cb3 = await bob.post('/v1/commit', {
    path: '/mine2.txt',
    parentRev: null,
    blocks: [{ hash: X, size: x.length + 1 }],
    size: x.length + 1,
    mtime: 1,
  });
  isError(t, cb3, 400, 'BAD_REQUEST', 'X with a wrong size');
  await healthy(t);
});

t.test("knowing alice's node ids does not let bob read or change her nodes", async (t) => {
  const before = await snapshot();
  const secret = await alice.get('/v1/node?path=/src.txt');
  t.equal(secret.status, 200);
  for (const [what, id] of [
    ['file', srcFile.id],
    ['dir', srcDir.id],
    ['root', aliceRootId],
  ] as const) {
    for (const route of ['/v1/node', '/v1/list', '/v1/revisions']) {
      const r = await bob.get(`${route}?id=${id}`);
      t.ok(r.status === 404 || r.status === 403, `bob GET ${route}?id=<alice's ${what}>: ${r.status}`);
      isError(t, r, r.status, r.status === 403 ? 'FORBIDDEN' : 'NOT_FOUND', `bob GET ${route} ${what}`);
      t.notOk(/src\.txt|srcdir/.test(r.raw.toString()), "none of alice's names leaked");
    }
  }
  const writes: [string, unknown][] = [
    ['/v1/commit', { id: srcFile.id, parentRev: srcFile.rev, blocks: [], size: 0, mtime: 1 }],
    ['/v1/move', { id: srcFile.id, parentRev: srcFile.rev, toPath: '/taken.txt' }],
    ['/v1/delete', { id: srcFile.id, parentRev: srcFile.rev }],
    ['/v1/delete', { id: srcDir.id, parentRev: srcDir.rev, recursive: true }],
  ];
  for (const [route, body] of writes) {
    const r = await bob.post(route, body);
    t.ok(r.status === 404 || r.status === 403, `bob POST ${route} with alice's id: ${r.status}`);
    isError(t, r, r.status, r.status === 403 ? 'FORBIDDEN' : 'NOT_FOUND', `bob POST ${route}`);
  }
  const after = await alice.get('/v1/node?path=/src.txt');
  t.same(after.body, secret.body, "alice's node unchanged");
  await absent(t, bob, '/taken.txt');
  await unchanged(t, before);
});
