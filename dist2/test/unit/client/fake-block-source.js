/**
 * Test helpers for the client's read path: an in-memory BlockSource that counts calls and can be
 * told to delay, to fail with UNAVAILABLE, or to answer wrong bytes; a trivial Connectivity; temp
 * dirs; deterministic random bytes; polling.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoftError } from '../../../src/shared/errors.js';
import { sha256hex } from '../../../src/shared/hash.js';
export { prng } from '../../helpers/prng.js';
/**
 * A block with content no other call returned (sizes 1..3 have few distinct values: at most a few
 * hundred of those per process).
 */
const seen = new Set();
export function block(size) {
    for (let tries = 0; tries < 10_000; tries++) {
        const data = randomBytes(size);
        const hash = sha256hex(data);
        if (!seen.has(hash)) {
            seen.add(hash);
            return { hash, data };
        }
    }
    throw new Error(`no fresh block of ${size} bytes left`);
}
export function tmpDirs(t, prefix) {
    const dirs = [];
    t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
    return () => {
        const d = mkdtempSync(path.join(os.tmpdir(), prefix));
        dirs.push(d);
        return d;
    };
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Polls `cond` every 5 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(cond, timeoutMs = 5000, what = 'condition') {
    const until = Date.now() + timeoutMs;
    while (!cond()) {
        if (Date.now() > until)
            throw new Error(`timed out waiting for ${what}`);
        await sleep(5);
    }
}
export class SimpleConnectivity {
    online;
    changes = [];
    constructor(online = true) {
        this.online = online;
    }
    setOnline(online) {
        if (online !== this.online)
            this.changes.push(online);
        this.online = online;
    }
}
export class FakeSource {
    blocks = new Map();
    /** Every getBlock call, in order. */
    calls = [];
    delayMs = 0;
    /** Per-hash delay (ms), instead of delayMs. */
    delays = new Map();
    /** When true every call fails with LoftError('UNAVAILABLE'). */
    unavailable = false;
    /** Calls fail with UNAVAILABLE until this time (Date.now() ms). */
    unavailableUntil = 0;
    /** hash → how many more answers are wrong bytes; `wrongKind` says how they are wrong. */
    wrong = new Map();
    wrongKind = 'flip';
    /** Bytes answered, right or wrong. */
    servedBytes = 0;
    add(...blocks) {
        for (const b of blocks)
            this.blocks.set(b.hash, b.data);
        return this;
    }
    count(hash) {
        return this.calls.filter((h) => h === hash).length;
    }
    async getBlock(hash, signal) {
        this.calls.push(hash);
        const delay = this.delays.get(hash) ?? this.delayMs;
        if (delay)
            await sleep(delay);
        if (signal?.aborted)
            throw new LoftError('UNAVAILABLE', 'aborted');
        if (this.unavailable || Date.now() < this.unavailableUntil)
            throw new LoftError('UNAVAILABLE', 'connect ECONNREFUSED 127.0.0.1:1');
        const data = this.blocks.get(hash);
        if (!data)
            throw new LoftError('NOT_FOUND', `no block ${hash}`);
        const left = this.wrong.get(hash) ?? 0;
        if (left > 0) {
            this.wrong.set(hash, left - 1);
            const bad = this.wrongKind === 'flip' ? Buffer.from(data) : Buffer.from(data.subarray(0, data.length >> 1));
            if (this.wrongKind === 'flip')
                bad[bad.length >> 1] ^= 0xff;
            this.servedBytes += bad.length;
            return bad;
        }
        this.servedBytes += data.length;
        return Buffer.from(data);
    }
}
//# sourceMappingURL=fake-block-source.js.map