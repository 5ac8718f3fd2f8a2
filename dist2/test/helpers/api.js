/** A small undici wrapper for tests that talk to the HTTP API directly. */
import { request } from 'undici';
import { sha256hex } from '../../src/shared/hash.js';
/** Every error code docs/PROTOCOL.md documents: tests check that answers use only these. */
export const DOCUMENTED_CODES = new Set([
    'BAD_REQUEST',
    'BAD_PATH',
    'BAD_HASH',
    'HASH_MISMATCH',
    'BAD_CURSOR',
    'BLOCK_UNUSABLE',
    'UNAUTHORIZED',
    'FORBIDDEN',
    'NOT_FOUND',
    'CONFLICT',
    'EXISTS',
    'NOT_DIR',
    'IS_DIR',
    'NOT_EMPTY',
    'CYCLE',
    'TOO_LARGE',
    'UNSUPPORTED_MEDIA_TYPE',
    'UNAVAILABLE',
]);
export class Api {
    url;
    token;
    constructor(url, token) {
        this.url = url;
        this.token = token;
    }
    async call(method, path, body, headers = {}) {
        const h = { ...headers };
        if (this.token)
            h.authorization = `Bearer ${this.token}`;
        let payload;
        if (Buffer.isBuffer(body)) {
            payload = body;
            h['content-type'] ??= 'application/octet-stream';
        }
        else if (typeof body === 'string') {
            payload = body;
            h['content-type'] ??= 'application/json';
        }
        else if (body !== undefined) {
            payload = JSON.stringify(body);
            h['content-type'] ??= 'application/json';
        }
        const res = await request(this.url + path, { method, headers: h, body: payload });
        const raw = Buffer.from(await res.body.arrayBuffer());
        let parsed = undefined;
        const ct = String(res.headers['content-type'] ?? '');
        if (ct.includes('json') && raw.length)
            parsed = JSON.parse(raw.toString());
        return { status: res.statusCode, body: parsed, raw, headers: res.headers };
    }
    get(path) {
        return this.call('GET', path);
    }
    post(path, body) {
        return this.call('POST', path, body);
    }
    /** Uploads `data` as a block and returns its ref. */
    async putBlock(data) {
        const hash = sha256hex(data);
        const r = await this.call('PUT', `/v1/blocks/${hash}`, data);
        return { hash, size: data.length, status: r.status };
    }
    /** Uploads the blocks and commits them as the file at `path`; returns the commit response. */
    async writeFile(path, chunks, parentRev = null) {
        const blocks = [];
        for (const c of chunks) {
            const b = await this.putBlock(c);
            blocks.push({ hash: b.hash, size: b.size });
        }
        const size = chunks.reduce((n, c) => n + c.length, 0);
        return this.post('/v1/commit', { path, parentRev, blocks, size, mtime: Date.now(), mode: 0o644 });
    }
}
//# sourceMappingURL=api.js.map