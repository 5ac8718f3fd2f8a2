/**
 * RemoteClient: the drive's view of the server's HTTP API (docs/PROTOCOL.md), on undici with
 * keep-alive connections.
 *
 * Errors: a server answer with an error body becomes the LoftError with the server's code; a
 * network failure (refused, reset, timed out) becomes UNAVAILABLE, which callers treat as "offline"
 * and retry with backoff. Idempotent reads retry here a bounded number of times; writes do not.
 */
import { Agent, request } from 'undici';
import { LoftError } from '../../shared/errors.js';
/** A block download rarely takes long; a stalled one is retried rather than waited on forever. */
const DEFAULT_TIMEOUT_MS = 30_000;
export class RemoteClient {
    url;
    #token;
    #agent;
    #timeoutMs;
    constructor(options) {
        this.url = options.url.replace(/\/+$/, '');
        this.#token = options.token;
        this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        this.#agent = new Agent({
            connections: options.connections ?? 16,
            keepAliveTimeout: 30_000,
            connectTimeout: 5_000,
        });
    }
    async close() {
        await this.#agent.close();
    }
    whoami(signal) {
        return this.#json('GET', '/v1/whoami', undefined, signal);
    }
    changes(cursor, limit, signal) {
        return this.#json('GET', `/v1/changes?cursor=${encodeURIComponent(cursor)}&limit=${limit}`, undefined, signal);
    }
    /** Long-poll: answers as soon as anything newer than `cursor` exists, or after `timeoutS`. */
    waitChanges(cursor, timeoutS, signal) {
        return this.#json('GET', `/v1/changes/wait?cursor=${encodeURIComponent(cursor)}&timeout=${timeoutS}`, undefined, signal, (timeoutS + 15) * 1000);
    }
    node(path, signal) {
        return this.#json('GET', `/v1/node?path=${encodeURIComponent(path)}`, undefined, signal);
    }
    /** Live children of a directory. */
    async list(id, signal) {
        return (await this.#json('GET', `/v1/list?id=${id}`, undefined, signal)).entries;
    }
    nodeById(id, signal) {
        return this.#json('GET', `/v1/node?id=${id}`, undefined, signal);
    }
    mkdir(req, signal) {
        return this.#json('POST', '/v1/mkdir', req, signal);
    }
    move(req, signal) {
        return this.#json('POST', '/v1/move', req, signal);
    }
    delete(req, signal) {
        return this.#json('POST', '/v1/delete', req, signal);
    }
    /** Of `hashes`, those this user must send before committing them. */
    async missingBlocks(hashes, signal) {
        const r = await this.#json('POST', '/v1/blocks/missing', { hashes }, signal);
        return r.missing;
    }
    /** Uploads one block (the server verifies it against its hash). */
    async putBlock(hash, data, signal) {
        const res = await this.#send('PUT', `/v1/blocks/${hash}`, data, signal, this.#timeoutMs);
        const raw = Buffer.from(await res.body.arrayBuffer());
        if (res.statusCode >= 300)
            throw errorFrom(res.statusCode, raw);
    }
    /** Commits a file revision; a stale parentRev throws CONFLICT with `details.currentRev`. */
    commit(req, signal) {
        return this.#json('POST', '/v1/commit', req, signal);
    }
    /** Downloads one block's bytes (not verified here: the caller checks the hash). */
    async getBlock(hash, signal) {
        const res = await this.#send('GET', `/v1/blocks/${hash}`, undefined, signal, this.#timeoutMs);
        // Collect the chunks and copy once into a buffer of the announced size.
        const chunks = [];
        let size = 0;
        try {
            for await (const c of res.body) {
                chunks.push(c);
                size += c.length;
            }
        }
        catch (cause) {
            if (signal?.aborted)
                throw cause;
            throw new LoftError('UNAVAILABLE', `download of block ${hash} broke off: ${cause.message}`, {
                cause,
            });
        }
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
        if (res.statusCode !== 200)
            throw errorFrom(res.statusCode, body);
        return body;
    }
    async #json(method, path, body, signal, timeoutMs) {
        const res = await this.#send(method, path, body, signal, timeoutMs ?? this.#timeoutMs);
        let raw;
        try {
            raw = Buffer.from(await res.body.arrayBuffer());
        }
        catch (cause) {
            if (signal?.aborted)
                throw cause;
            throw new LoftError('UNAVAILABLE', `answer from ${this.url} broke off: ${cause.message}`, {
                cause,
            });
        }
        if (res.statusCode >= 300)
            throw errorFrom(res.statusCode, raw);
        return JSON.parse(raw.toString('utf8'));
    }
    async #send(method, path, body, signal, timeoutMs) {
        const headers = { authorization: `Bearer ${this.#token}` };
        let payload;
        if (Buffer.isBuffer(body)) {
            headers['content-type'] = 'application/octet-stream';
            payload = body;
        }
        else if (body !== undefined) {
            headers['content-type'] = 'application/json';
            payload = JSON.stringify(body);
        }
        const timeout = AbortSignal.timeout(timeoutMs);
        const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
        try {
            return await request(this.url + path, {
                method,
                headers,
                body: payload,
                dispatcher: this.#agent,
                signal: combined,
                headersTimeout: timeoutMs,
                bodyTimeout: timeoutMs,
            });
        }
        catch (cause) {
            if (signal?.aborted)
                throw cause;
            throw new LoftError('UNAVAILABLE', `server ${this.url} unreachable: ${cause.message}`, {
                cause,
            });
        }
    }
}
function errorFrom(status, raw) {
    try {
        const body = JSON.parse(raw.toString('utf8'));
        if (body.error?.code) {
            const { code, message, ...details } = body.error;
            return new LoftError(code, message ?? `HTTP ${status}`, {
                details: { ...details, status },
            });
        }
    }
    catch {
        // not JSON: fall through
    }
    const code = status >= 500 ? 'UNAVAILABLE' : 'BAD_REQUEST';
    return new LoftError(code, `server answered HTTP ${status}`, { details: { status } });
}
//# sourceMappingURL=remote-client.js.map