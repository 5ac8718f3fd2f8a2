import { prng } from '../helpers/prng.js';
/**
 * A request storm against a real `loft serve` process: a seeded PRNG drives a few thousand requests
 * with random methods, paths (valid routes, route-like garbage, very long, percent-encoded junk, ".."),
 * bodies (valid JSON with random mutations, random bytes, truncated, huge numbers, deep nesting, empty)
 * and tokens (valid, another user's, garbage, missing), 16 at a time.
 *
 * The server must never answer 5xx, every 4xx must be the documented JSON error with a code and a
 * one-line message, and afterwards the process must be alive and still serve health and a commit.
 *
 * The request list comes from the seed alone (printed; set LOFT_STORM_SEED=<seed> to replay it).
 * Only the interleaving of the 16 workers varies between runs, and with it the parentRev values
 * marked LIVE, which are filled in at send time from the revs seen in earlier answers.
 */
import t from 'tap';
import { Pool } from 'undici';
import { Api, DOCUMENTED_CODES } from '../helpers/api.js';
import { ServerProcess } from '../helpers/server-process.js';
import { sha256hex } from '../../src/shared/hash.js';
const REQUESTS = 3000;
const CONCURRENCY = 16;
const seed = pickSeed();
function pickSeed() {
    const env = process.env.LOFT_STORM_SEED;
    if (env === undefined || env === '')
        return (Date.now() ^ (process.pid << 12)) >>> 0;
    const n = Number(env);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
        throw new Error(`LOFT_STORM_SEED must be a uint32, got ${env}`);
    return n;
}
class Rng {
    next;
    constructor(seed) {
        this.next = prng(seed);
    }
    /** Integer in [0, n). */
    int(n) {
        return Math.floor(this.next() * n);
    }
    /** Integer in [lo, hi]. */
    range(lo, hi) {
        return lo + this.int(hi - lo + 1);
    }
    chance(p) {
        return this.next() < p;
    }
    pick(items) {
        return items[this.int(items.length)];
    }
    /** Picks by weight: `[[weight, value], …]`. */
    weighted(items) {
        const total = items.reduce((n, [w]) => n + w, 0);
        let r = this.next() * total;
        for (const [w, v] of items)
            if ((r -= w) < 0)
                return v;
        return items[items.length - 1][1];
    }
    bytes(n) {
        const b = Buffer.alloc(n);
        for (let i = 0; i < n; i += 4) {
            const v = (this.next() * 4294967296) >>> 0;
            for (let j = 0; j < 4 && i + j < n; j++)
                b[i + j] = (v >>> (8 * j)) & 0xff;
        }
        return b;
    }
    word(n, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_.~') {
        let s = '';
        for (let i = 0; i < n; i++)
            s += alphabet[this.int(alphabet.length)];
        return s;
    }
}
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const NAMES = ['f0', 'f1', 'f2', 'a', 'b', 'c.txt', 'dir', 'sub', 'ünï', 'x y', '.hidden', '...', 'Z'];
function validPath(r) {
    const depth = r.range(1, 3);
    const parts = ['storm'];
    for (let i = 0; i < depth; i++)
        parts.push(r.pick(NAMES));
    return '/' + parts.join('/');
}
function hostilePath(r) {
    return r.pick([
        () => '/storm/./' + r.pick(NAMES),
        () => '/storm/../' + r.pick(NAMES),
        () => '/../../etc/passwd',
        () => '/storm//' + r.pick(NAMES),
        () => '/storm/' + r.pick(NAMES) + '/',
        () => '/storm/a\u0000b',
        () => '/storm/new\nline',
        () => '/storm/cr\rlf',
        () => 'relative/' + r.pick(NAMES),
        () => '',
        () => '/',
        () => '/storm/' + 'x'.repeat(r.range(250, 260)),
        () => '/storm/' + 'é'.repeat(r.range(126, 130)),
        () => ('/' + 'p'.repeat(200)).repeat(r.range(19, 22)),
        () => '/' + 'q'.repeat(r.range(8190, 9000)),
        () => '/storm/\uD800',
        () => '/storm/\u202e\ufeff\u0007',
        () => '/storm/%2e%2e',
    ])();
}
function randomPath(r) {
    return r.chance(0.8) ? validPath(r) : hostilePath(r);
}
/** Raw JSON snippets spliced into bodies after JSON.stringify (things JSON.stringify cannot make). */
const RAW = '\u0000RAW';
function rawValue(r) {
    return r.pick([
        () => '1' + '0'.repeat(r.range(20, 400)),
        () => '-1e999',
        () => '1e308',
        () => '18446744073709551616',
        () => '0.0000000000000000000001',
        () => '-0',
        () => '1.0',
        () => '['.repeat(r.range(100, 20_000)),
        () => {
            const n = r.range(100, 20_000);
            return '['.repeat(n) + ']'.repeat(n);
        },
        () => {
            const n = r.range(100, 10_000);
            return '{"a":'.repeat(n) + '1' + '}'.repeat(n);
        },
        () => '"\\ud800"',
        () => '"' + 'z'.repeat(r.range(10_000, 200_000)) + '"',
    ])();
}
function randomValue(r, ctx, raws) {
    return r.pick([
        () => -1,
        () => 0,
        () => 1,
        () => 1.5,
        () => 2 ** 53,
        () => 2 ** 64,
        () => -(2 ** 63),
        () => Number.MAX_SAFE_INTEGER,
        () => '',
        () => 'x',
        () => String(r.int(100)),
        () => null,
        () => true,
        () => false,
        () => [],
        () => {
            return {};
        },
        () => r.pick(ctx.ids),
        () => r.pick(ctx.revs),
        () => randomPath(r),
        () => r.pick(ctx.blocks).hash,
        () => [r.pick(ctx.blocks).hash],
        () => ({ hash: r.pick(ctx.blocks).hash, size: r.int(100) }),
        () => {
            raws.push(rawValue(r));
            return `${RAW}${raws.length - 1}`;
        },
    ])();
}
function blockRef(r, ctx) {
    const b = r.pick(ctx.blocks);
    return { hash: b.hash, size: r.chance(0.9) ? b.data.length : r.int(200) };
}
function nodeRef(r, ctx) {
    return r.weighted([
        [6, () => ({ path: randomPath(r) })],
        [3, () => ({ id: r.chance(0.8) ? r.pick(ctx.ids) : r.range(1, 10_000) })],
        [1, () => ({ path: randomPath(r), id: r.pick(ctx.ids) })],
        [1, () => ({})],
    ])();
}
/**
 * Marks a value filled in when the request is sent: the latest rev the storm has seen for the node
 * `lives[i]` refers to. Without it, almost every change would be a conflict and the tree code would
 * barely run; with it, the request list still depends only on the seed.
 */
const LIVE = '\u0000LIVE';
function parentRev(r, ctx, ref, lives) {
    return r.weighted([
        [2, () => null],
        [1, () => 0],
        [3, () => r.pick(ctx.revs)],
        [1, () => r.range(1, 500)],
        [
            7,
            () => {
                lives.push(ref);
                return `${LIVE}${lives.length - 1}`;
            },
        ],
    ])();
}
function maybeNs(r, ctx) {
    return r.weighted([
        [8, () => ({})],
        [1, () => ({ ns: ctx.aliceNs })],
        [1, () => ({ ns: r.pick([ctx.bobNs, 999, 0]) })],
    ])();
}
function queryNs(r, ctx) {
    return r.weighted([
        [8, ''],
        [1, `&ns=${ctx.aliceNs}`],
        [1, `&ns=${r.pick([ctx.bobNs, 999, 0, -1])}`],
    ]);
}
function encodeQuery(value) {
    try {
        return encodeURIComponent(value);
    }
    catch {
        return '%ED%A0%80'; // a lone surrogate, as WTF-8
    }
}
/** A request that a correct client could send (before mutation). */
function validTemplate(r, ctx, lives) {
    const ref = () => nodeRef(r, ctx);
    return r.weighted([
        [
            6,
            () => ({
                method: 'POST',
                path: '/v1/blocks/missing',
                json: { hashes: ctx.blocks.filter(() => r.chance(0.3)).map((b) => b.hash), ...maybeNs(r, ctx) },
            }),
        ],
        [
            8,
            () => {
                const b = r.pick(ctx.blocks);
                const bytes = r.weighted([
                    [6, () => b.data],
                    [2, () => r.bytes(r.int(4096))],
                    [1, () => Buffer.concat([b.data, Buffer.from([0])])],
                    [1, () => r.bytes(r.range(64 * 1024, 1024 * 1024))],
                ])();
                const hash = r.chance(0.9) ? b.hash : sha256hex(bytes);
                return { method: 'PUT', path: `/v1/blocks/${hash}`, bytes };
            },
        ],
        [6, () => ({ method: 'GET', path: `/v1/blocks/${r.pick(ctx.blocks).hash}` })],
        [
            16,
            () => {
                const blocks = Array.from({ length: r.int(4) }, () => blockRef(r, ctx));
                const size = blocks.reduce((n, b) => n + b.size, 0) + (r.chance(0.1) ? r.range(-5, 5) : 0);
                const node = ref();
                return {
                    method: 'POST',
                    path: '/v1/commit',
                    json: {
                        ...node,
                        parentRev: parentRev(r, ctx, node, lives),
                        blocks,
                        size,
                        mtime: r.range(0, 2_000_000_000_000),
                        ...(r.chance(0.5) ? { mode: r.pick([0o644, 0o600, 0o755, 0o7777]) } : {}),
                        ...maybeNs(r, ctx),
                    },
                };
            },
        ],
        [
            8,
            () => ({
                method: 'POST',
                path: '/v1/mkdir',
                json: {
                    path: randomPath(r),
                    ...(r.chance(0.5) ? { parents: r.chance(0.5) } : {}),
                    ...(r.chance(0.3) ? { mtime: r.range(0, 2e12), mode: 0o755 } : {}),
                    ...maybeNs(r, ctx),
                },
            }),
        ],
        [
            8,
            () => {
                const node = ref();
                return {
                    method: 'POST',
                    path: '/v1/move',
                    json: {
                        ...node,
                        parentRev: parentRev(r, ctx, node, lives) ?? 0,
                        toPath: randomPath(r),
                        ...(r.chance(0.4) ? { overwrite: r.chance(0.5) } : {}),
                        ...(r.chance(0.2) ? { targetRev: r.pick(ctx.revs) } : {}),
                        ...maybeNs(r, ctx),
                    },
                };
            },
        ],
        [
            6,
            () => {
                const node = ref();
                return {
                    method: 'POST',
                    path: '/v1/delete',
                    json: {
                        ...node,
                        parentRev: parentRev(r, ctx, node, lives) ?? 0,
                        ...(r.chance(0.5) ? { recursive: r.chance(0.5) } : {}),
                        ...maybeNs(r, ctx),
                    },
                };
            },
        ],
        [
            14,
            () => {
                const route = r.pick(['/v1/node', '/v1/list', '/v1/revisions']);
                const q = r.weighted([
                    [6, `path=${encodeQuery(randomPath(r))}`],
                    [3, `id=${r.chance(0.8) ? r.pick(ctx.ids) : r.range(0, 100_000)}`],
                    [1, ''],
                ]);
                return { method: 'GET', path: `${route}?${q}${queryNs(r, ctx)}` };
            },
        ],
        [3, () => ({ method: 'GET', path: '/v1/whoami' })],
        [3, () => ({ method: 'GET', path: '/v1/health' })],
        [
            8,
            () => {
                const cursor = r.weighted([
                    [3, ''],
                    [5, r.pick(ctx.cursors)],
                    [2, r.word(r.range(1, 40))],
                ]);
                const limit = r.weighted([
                    [5, ''],
                    [3, `&limit=${r.range(1, 20)}`],
                    [2, `&limit=${r.pick([0, 10_000, 10_001, 100_000, -1])}`],
                ]);
                return { method: 'GET', path: `/v1/changes?cursor=${encodeQuery(cursor)}${limit}${queryNs(r, ctx)}` };
            },
        ],
        [
            5,
            () => {
                const cursor = r.chance(0.3) ? '' : r.pick(ctx.cursors);
                const timeout = r.pick(['0', '0.05', '0.2', '0.5', '1', '301', '1e3', '-1']);
                return {
                    method: 'GET',
                    path: `/v1/changes/wait?cursor=${encodeQuery(cursor)}&timeout=${timeout}${queryNs(r, ctx)}`,
                };
            },
        ],
    ])();
}
function mutateJson(r, ctx, obj, raws) {
    const out = { ...obj };
    for (let n = r.range(1, 3); n > 0; n--) {
        const keys = Object.keys(out);
        r.weighted([
            [3, () => keys.length && delete out[r.pick(keys)]],
            [2, () => (out[r.pick(['foo', 'Path', 'recursive', 'hash', 'constructor', ''])] = 1)],
            [6, () => keys.length && (out[r.pick(keys)] = randomValue(r, ctx, raws))],
            [1, () => (out[r.pick(['size', 'parentRev', 'mtime', 'id'])] = randomValue(r, ctx, raws))],
        ])();
    }
    return out;
}
function serialize(obj, raws) {
    let text = JSON.stringify(obj);
    raws.forEach((raw, i) => (text = text.replace(JSON.stringify(`${RAW}${i}`), raw)));
    return text;
}
const OTHER_CONTENT_TYPES = [
    'text/plain',
    'application/octet-stream',
    'application/x-www-form-urlencoded',
    'application/json; charset=utf-16',
    'application/json; charset=utf-8',
    'multipart/form-data; boundary=x',
    'application/jsonx',
    'image/png',
];
function mutatePath(r, ctx, path) {
    const [route, query] = path.split(/\?(.*)/s, 2);
    const q = query === undefined ? '' : `?${query}`;
    return r.pick([
        // route-like garbage
        () => `/v1/${r.word(r.range(1, 12))}${q}`,
        () => `${route}/${r.word(r.range(1, 8))}${q}`,
        () => `${route.toUpperCase()}${q}`,
        () => `${route.replace('/v1/', '/v1//')}${q}`,
        () => `${route}/${q}`,
        () => `/v1/blocks/${r.word(r.range(0, 120), '0123456789abcdefABCDEFgz')}`,
        () => `/v2${route.slice(3)}${q}`,
        () => `/${q}`,
        // very long
        () => `${route}${q}${q ? '&' : '?'}pad=${'p'.repeat(r.range(1000, 12_000))}`,
        () => `${route}${'/x'.repeat(r.range(500, 4000))}`,
        () => `${route}${q}${q ? '&' : '?'}pad=${'p'.repeat(r.range(16_500, 40_000))}`,
        // percent-encoded junk
        () => `${route}${r.pick(['%ZZ', '%', '%0', '%00', '%C3%28', '%FF%FE', '%2e%2e', '%2F', '%u2215'])}${q}`,
        () => `${route}?${r.pick(['path=%ZZ', 'path=%', 'id=%00', 'path=%C0%AF', 'cursor=%FF', 'path=%2F%2E%2E'])}`,
        () => `/v1/blocks/${r.pick(['%ZZ', '%2e%2e', '..%2F..%2Fetc%2Fpasswd', '%00', '%C3%28'])}`,
        // ".."
        () => `/v1/../v1/${r.pick(['whoami', 'health', 'node?path=/'])}`,
        () => `/v1/blocks/..`,
        () => `/v1/blocks/../../../etc/passwd`,
        () => `${route}/..${q}`,
        // query junk
        () => `${route}?${query ?? ''}&${r.pick(['foo=1', 'ns=1&ns=1', `ns=${ctx.bobNs}`, 'ns=999', 'limit=0', '__proto__=1', 'path=&path='])}`,
        // raw bytes >= 0x80 in the request target
        () => `${route}${q}${q ? '&' : '?'}x=\u00e9\u00ff`,
    ])();
}
function randomToken(r, ctx) {
    return r.weighted([
        [55, () => ['alice', `Bearer ${ctx.aliceToken}`]],
        [15, () => ['bob', `Bearer ${ctx.bobToken}`]],
        [8, () => ['missing', null]],
        [
            5,
            () => [
                'unknown',
                `Bearer loft_${r.word(43, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_')}`,
            ],
        ],
        [4, () => ['garbage', `Bearer ${r.word(r.range(1, 80))}`]],
        [
            4,
            () => [
                'malformed',
                r.pick([
                    'Bearer',
                    'Bearer ',
                    `Basic ${ctx.aliceToken}`,
                    ctx.aliceToken,
                    `bearer  ${ctx.aliceToken}`,
                    `Bearer ${ctx.aliceToken}x`,
                ]),
            ],
        ],
    ])();
}
function generate(r, ctx, index) {
    const lives = [];
    const tpl = validTemplate(r, ctx, lives);
    let method = tpl.method;
    let path = tpl.path;
    const headers = {};
    let body;
    let text;
    let json;
    let bodyLabel = 'none';
    const raws = [];
    if (tpl.json) {
        const obj = r.chance(0.3) ? mutateJson(r, ctx, tpl.json, raws) : tpl.json;
        const full = serialize(obj, raws);
        const kind = r.weighted([
            [75, 'json'],
            [8, 'truncated'],
            [5, 'bytes'],
            [4, 'empty'],
            [4, 'raw'],
            [4, 'non-object'],
            [5, 'none'],
        ]);
        if (kind === 'json') {
            text = full;
            json = obj;
        }
        else if (kind === 'truncated')
            text = full.slice(0, r.int(full.length));
        else if (kind === 'bytes')
            body = r.bytes(r.int(4096));
        else if (kind === 'empty')
            body = Buffer.alloc(0);
        else if (kind === 'raw')
            body = Buffer.from(rawValue(r));
        else if (kind === 'non-object')
            body = Buffer.from(r.pick(['[]', '42', '"x"', 'null', 'true', `[${full}]`]));
        if (body || text !== undefined) {
            headers['content-type'] = r.chance(0.9) ? 'application/json' : r.pick(OTHER_CONTENT_TYPES);
        }
        bodyLabel = `${kind} ${body?.length ?? text?.length ?? 0}B`;
    }
    else if (tpl.bytes) {
        body = tpl.bytes;
        headers['content-type'] = r.chance(0.85) ? 'application/octet-stream' : r.pick(OTHER_CONTENT_TYPES);
        bodyLabel = `bytes ${body.length}B ${headers['content-type']}`;
    }
    else if (r.chance(0.05)) {
        body = r.bytes(r.int(512));
        headers['content-type'] = r.pick(['application/json', ...OTHER_CONTENT_TYPES]);
        bodyLabel = `junk ${body.length}B`;
    }
    if (r.chance(0.1))
        method = r.pick(METHODS);
    if (r.chance(0.2))
        path = mutatePath(r, ctx, path);
    // Long-polls are bounded: a wait without a timeout would hold a worker for 30 s.
    if (/^\/v1\/changes\/wait(\?|$)/.test(path) && !/[?&]timeout=/.test(path)) {
        path += (path.includes('?') ? '&' : '?') + 'timeout=0.5';
    }
    const [who, auth] = randomToken(r, ctx);
    if (auth !== null)
        headers.authorization = auth;
    const shown = path.length > 100 ? `${path.slice(0, 100)}…(${path.length} chars)` : path;
    return {
        index,
        method,
        path,
        headers,
        who,
        ...(body ? { body } : {}),
        ...(text !== undefined ? { text } : {}),
        lives,
        ...(json ? { json } : {}),
        label: `#${index} ${method} ${JSON.stringify(shown)} token=${who} body=${bodyLabel}`,
    };
}
const server = new ServerProcess();
t.teardown(() => server.dispose());
// The storm is bounded (3000 requests, a few seconds here); leave room on slow machines.
t.setTimeout(180_000);
t.test(`request storm (seed ${seed}; LOFT_STORM_SEED=${seed} replays it)`, async (t) => {
    process.stderr.write(`server-storm: seed ${seed} (set LOFT_STORM_SEED=${seed} to replay)\n`);
    t.comment(`seed ${seed}`);
    const r = new Rng(seed);
    await server.start();
    const aliceToken = await server.addUser('alice');
    const bobToken = await server.addUser('bob');
    const alice = new Api(server.url, aliceToken);
    const bob = new Api(server.url, bobToken);
    const aliceNs = (await alice.get('/v1/whoami')).body.ns;
    const bobNs = (await bob.get('/v1/whoami')).body.ns;
    // Setup: blocks (some uploaded by alice, some by bob, some by nobody), a small tree for each.
    const blocks = Array.from({ length: 24 }, (_, i) => {
        const data = r.bytes(r.range(0, i % 6 === 0 ? 70_000 : 300));
        return { data, hash: sha256hex(data) };
    });
    for (const b of blocks.slice(0, 12))
        await alice.putBlock(b.data);
    for (const b of blocks.slice(8, 16))
        await bob.putBlock(b.data);
    const ids = [];
    const revs = [];
    const cursors = [];
    const known = [];
    for (const p of ['/storm/dir', '/storm/sub/a', '/storm/Z']) {
        const m = await alice.post('/v1/mkdir', { path: p, parents: true });
        ids.push(m.body.node.id);
        revs.push(m.body.rev);
        known.push([p, m.body.rev]);
    }
    for (let i = 0; i < 6; i++) {
        const chosen = [blocks[i], blocks[(i * 5) % 12]];
        const c = await alice.post('/v1/commit', {
            path: `/storm/${NAMES[i]}`,
            parentRev: null,
            blocks: chosen.map((b) => ({ hash: b.hash, size: b.data.length })),
            size: chosen.reduce((n, b) => n + b.data.length, 0),
            mtime: 1_700_000_000_000 + i,
        });
        if (c.status !== 200)
            throw new Error(`setup commit failed: ${c.status} ${c.raw}`);
        ids.push(c.body.node.id);
        revs.push(c.body.rev);
        known.push([`/storm/${NAMES[i]}`, c.body.rev]);
        cursors.push((await alice.get(`/v1/changes?limit=${i + 1}`)).body.cursor);
    }
    const bc = await bob.writeFile('/storm/bob.txt', [blocks[9].data]);
    ids.push(bc.body.node.id);
    revs.push(bc.body.rev);
    cursors.push((await bob.get('/v1/changes')).body.cursor);
    const ctx = { aliceToken, bobToken, aliceNs, bobNs, blocks, ids, revs, cursors };
    // The whole request list comes from the seed before anything is sent.
    const requests = Array.from({ length: REQUESTS }, (_, i) => generate(r, ctx, i));
    const pool = new Pool(server.url, { connections: CONCURRENCY, pipelining: 1 });
    t.teardown(() => pool.destroy());
    const statuses = new Map();
    const codes = new Map();
    const serverErrors = new Map();
    const dropped = new Map();
    const badShape = new Map();
    const multiLine = new Map();
    const note = (map, key, example) => {
        const e = map.get(key);
        if (e)
            e.count++;
        else
            map.set(key, { count: 1, example });
    };
    let skipped = 0;
    // Latest revs seen, by node id and by (user, path): what LIVE markers become.
    const revById = new Map();
    const revByPath = new Map();
    const latest = (who, ref) => {
        if (typeof ref.id === 'number')
            return revById.get(ref.id) ?? 0;
        if (typeof ref.path === 'string')
            return revByPath.get(`${who}:${ref.path}`) ?? 0;
        return 0;
    };
    const seen = (who, path, node) => {
        if (typeof node?.id !== 'number' || typeof node.rev !== 'number')
            return;
        revById.set(node.id, node.rev);
        if (typeof path === 'string')
            revByPath.set(`${who}:${path}`, node.rev);
    };
    for (const [i, id] of ids.entries())
        revById.set(id, revs[i]);
    for (const [p, rev] of known)
        revByPath.set(`alice:${p}`, rev);
    function bodyOf(req) {
        if (req.text === undefined)
            return req.body ?? null;
        let text = req.text;
        req.lives.forEach((ref, i) => (text = text.replace(JSON.stringify(`${LIVE}${i}`), String(latest(req.who, ref)))));
        return Buffer.from(text);
    }
    function learn(req, raw) {
        let answer;
        try {
            answer = JSON.parse(raw.toString());
        }
        catch {
            return;
        }
        const j = req.json;
        if (req.method === 'POST' && j && ['/v1/commit', '/v1/mkdir', '/v1/move'].includes(req.path)) {
            if (req.path === '/v1/move' && typeof j.path === 'string')
                revByPath.delete(`${req.who}:${j.path}`);
            seen(req.who, req.path === '/v1/move' ? j.toPath : j.path, answer.node);
        }
        else if (req.method === 'POST' && j && req.path === '/v1/delete') {
            for (const d of answer.deleted ?? [])
                seen(req.who, undefined, d);
            if (typeof j.path === 'string')
                revByPath.set(`${req.who}:${j.path}`, 0);
        }
        else if (req.method === 'GET' && req.path.startsWith('/v1/node?')) {
            const p = new URLSearchParams(req.path.slice('/v1/node?'.length)).get('path');
            seen(req.who, p ?? undefined, answer);
        }
    }
    async function send(req) {
        try {
            const res = await pool.request({
                path: req.path,
                method: req.method,
                headers: req.headers,
                body: bodyOf(req),
                headersTimeout: 60_000,
                bodyTimeout: 60_000,
            });
            const raw = Buffer.from(await res.body.arrayBuffer());
            if (res.statusCode === 200)
                learn(req, raw);
            return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), raw };
        }
        catch (err) {
            return err;
        }
    }
    function check(req, out) {
        if (out instanceof Error) {
            const code = out.code ?? out.name;
            // The client refusing to send something (e.g. a header it considers invalid) tests nothing.
            if (code === 'UND_ERR_INVALID_ARG') {
                skipped++;
                return;
            }
            // A connection dropped without an answer. With keep-alive this hits an innocent request
            // when the server closes a connection after an answer that did not say "Connection: close".
            note(dropped, `no answer (${code})`, `${req.label}: ${out.message}`);
            return;
        }
        statuses.set(out.status, (statuses.get(out.status) ?? 0) + 1);
        const text = out.raw.toString();
        const example = `${req.label} -> ${out.status} ${text.slice(0, 200)}`;
        if (out.status >= 500) {
            note(serverErrors, `${out.status}`, example);
            return;
        }
        if (out.status < 400)
            return;
        let body;
        try {
            body = JSON.parse(text);
        }
        catch {
            body = undefined;
        }
        const error = body?.error;
        const code = typeof error === 'object' && error !== null ? error.code : undefined;
        codes.set(String(code), (codes.get(String(code)) ?? 0) + 1);
        if (!out.contentType.startsWith('application/json') || typeof code !== 'string') {
            const shape = body === undefined
                ? 'not JSON'
                : JSON.stringify(body).replace(/"(message|error)":"[^"]*"/g, '"$1":…');
            note(badShape, `${out.status} ${shape.slice(0, 120)}`, example);
        }
        else if (!DOCUMENTED_CODES.has(code)) {
            note(badShape, `${out.status} undocumented code ${code}`, example);
        }
        const message = error?.message;
        if (typeof code === 'string' &&
            (typeof message !== 'string' || message === '' || /[\r\n]/.test(message))) {
            note(multiLine, `${out.status} ${code}`, example);
        }
    }
    const started = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < requests.length) {
            const req = requests[next++];
            check(req, await send(req));
        }
    }));
    const elapsed = Date.now() - started;
    const summary = [...statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ');
    t.comment(`${REQUESTS} requests in ${elapsed} ms (${skipped} refused by the client): ${summary}`);
    t.comment(`error codes: ${[...codes].map(([c, n]) => `${c}×${n}`).join(' ')}`);
    const report = (map) => [...map].map(([k, v]) => `${k} (${v.count}×), e.g. ${v.example}`);
    t.same(report(serverErrors), [], `no 5xx (seed ${seed})`);
    t.same(report(dropped), [], `every request got an answer (seed ${seed})`);
    t.same(report(badShape), [], `every 4xx is {"error": {"code": <documented>, …}} JSON (seed ${seed})`);
    t.same(report(multiLine), [], `every 4xx message is one line (seed ${seed})`);
    t.ok(skipped < REQUESTS / 20, `the client refused few requests (${skipped})`);
    t.ok(elapsed < 60_000, `the storm finished in under 60 s (${elapsed} ms)`);
    // The server survived and still works.
    t.ok(server.alive, 'the server process is alive');
    const h = await new Api(server.url, null).get('/v1/health');
    t.same({ status: h.status, body: h.body }, { status: 200, body: { ok: true } }, 'health answers');
    const data = Buffer.from(`after the storm ${seed}`);
    const c = await alice.writeFile('/after-the-storm.txt', [data]);
    t.equal(c.status, 200, `a valid commit succeeds after the storm: ${c.raw.toString().slice(0, 200)}`);
    const n = await alice.get('/v1/node?path=/after-the-storm.txt');
    t.same({ status: n.status, size: n.body?.size }, { status: 200, size: data.length }, 'and is readable');
    const g = await alice.get(`/v1/blocks/${sha256hex(data)}`);
    t.ok(g.status === 200 && g.raw.equals(data), 'its block reads back');
    const changes = await alice.get(`/v1/changes?cursor=${encodeURIComponent(cursors[0])}&limit=10000`);
    t.equal(changes.status, 200, 'the journal still reads');
    t.ok(server.alive, 'the server process is still alive');
});
//# sourceMappingURL=server-storm.test.js.map