/**
 * BlockStore on a local directory: `<root>/<hh>/<hh>/<hash>`, two levels of 256 shards so that no
 * directory grows past a few thousand entries even with hundreds of millions of blocks.
 *
 * A put writes `<root>/tmp/<random>`, fsyncs it, renames it into place and fsyncs the shard
 * directory: after a crash a block is either complete or absent, never torn. Concurrent puts of the
 * same hash race harmlessly (both rename identical bytes). Leftover temp files are removed at open
 * (only those older than `tmpMaxAgeMs` when another process may be writing: `loft gc` or
 * `loft user add` beside a running server must not remove the server's uploads in progress).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { LoftError } from '../shared/errors.js';
import { assertHash, sha256hex, verifyBlock } from '../shared/hash.js';
import { MAX_BLOCK_SIZE } from '../shared/protocol.js';
import { decodeBlock, encodeBlock } from './block-codec.js';
export class FsBlockStore {
    #root;
    #tmp;
    #compression;
    #maxBlockSize;
    #durable;
    #verifyOnGet;
    constructor(options) {
        this.#root = options.root;
        this.#tmp = path.join(this.#root, 'tmp');
        this.#compression = options.compression ?? 'brotli';
        this.#maxBlockSize = options.maxBlockSize ?? MAX_BLOCK_SIZE;
        this.#durable = options.durable ?? true;
        this.#verifyOnGet = options.verifyOnGet ?? true;
        mkdirSync(this.#tmp, { recursive: true });
        const maxAge = options.tmpMaxAgeMs ?? 0;
        for (const leftover of readdirSync(this.#tmp)) {
            const file = path.join(this.#tmp, leftover);
            try {
                if (maxAge > 0 && Date.now() - statSync(file).mtimeMs < maxAge)
                    continue;
            }
            catch {
                continue; // renamed into place meanwhile
            }
            rmSync(file, { force: true });
        }
    }
    #path(hash) {
        return path.join(this.#root, hash.slice(0, 2), hash.slice(2, 4), hash);
    }
    async put(hash, data) {
        assertHash(hash);
        if (data.byteLength > this.#maxBlockSize) {
            throw new LoftError('TOO_LARGE', `block is ${data.byteLength} bytes; the limit is ${this.#maxBlockSize}`);
        }
        verifyBlock(hash, data);
        const final = this.#path(hash);
        if (await exists(final))
            return { created: false, storedSize: 0 };
        const parts = await encodeBlock(data, this.#compression);
        const tmp = path.join(this.#tmp, randomBytes(12).toString('hex'));
        const fh = await fs.open(tmp, 'wx');
        try {
            await fh.writev(parts);
            if (this.#durable)
                await fh.sync();
        }
        catch (err) {
            await fh.close();
            await fs.rm(tmp, { force: true });
            throw err;
        }
        await fh.close();
        const dir = path.dirname(final);
        try {
            await fs.mkdir(dir, { recursive: true });
            await fs.rename(tmp, final);
        }
        catch (err) {
            await fs.rm(tmp, { force: true });
            throw err;
        }
        if (this.#durable)
            await syncDir(dir);
        return { created: true, storedSize: parts.reduce((n, p) => n + p.length, 0) };
    }
    async get(hash) {
        assertHash(hash);
        let stored;
        try {
            stored = await fs.readFile(this.#path(hash));
        }
        catch (err) {
            if (err.code === 'ENOENT')
                return null;
            throw err;
        }
        const data = await decodeBlock(stored, hash);
        if (this.#verifyOnGet && sha256hex(data) !== hash)
            throw new LoftError('CORRUPT', `block ${hash} no longer matches its hash`);
        return data;
    }
    async has(hash) {
        assertHash(hash);
        return exists(this.#path(hash));
    }
    async delete(hash) {
        assertHash(hash);
        await fs.rm(this.#path(hash), { force: true });
    }
    async *list() {
        for (const a of await fs.readdir(this.#root)) {
            if (!/^[0-9a-f]{2}$/.test(a))
                continue;
            for (const b of await fs.readdir(path.join(this.#root, a))) {
                for (const name of await fs.readdir(path.join(this.#root, a, b))) {
                    if (/^[0-9a-f]{64}$/.test(name))
                        yield name;
                }
            }
        }
    }
    async close() { }
}
async function exists(p) {
    try {
        await fs.access(p);
        return true;
    }
    catch {
        return false;
    }
}
async function syncDir(dir) {
    const fh = await fs.open(dir, 'r');
    try {
        await fh.sync();
    }
    finally {
        await fh.close();
    }
}
//# sourceMappingURL=fs-block-store.js.map