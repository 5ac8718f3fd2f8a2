/**
 * Several devices of one user against one real server: users and device tokens, mounts that print
 * their stderr when a test fails, waiting for a mount to settle, and the trees of the server and of
 * a mount (paths, kinds, sizes, SHA-256 of contents) to compare for convergence.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Api } from './api.js';
import { sha256 } from './fixtures.js';
import { MountProcess } from './mount-process.js';
export class Devices {
    server;
    mounts = [];
    /** stderr of a mount's earlier runs (`MountProcess.start` starts a new one). */
    #earlier = new Map();
    constructor(server) {
        this.server = server;
    }
    /** A new user (each test has its own tree) and the token of its first device. */
    async newUser(user) {
        const device = `${user}-laptop`;
        const token = await this.server.addUser(user, ['--device', device]);
        return { user, device, token, api: new Api(this.server.url, token) };
    }
    /** Another device of the same user. */
    async otherDevice(of, device) {
        const token = await this.server.addToken(of.user, ['--device', device]);
        return { user: of.user, device, token, api: new Api(this.server.url, token) };
    }
    /** A mount of `dev`; when `t` fails, the mount's stderr (every run) is printed with the failure. */
    mount(t, dev, url = this.server.url) {
        const m = new MountProcess(url, dev.token, { cacheSize: '256M' });
        this.mounts.push(m);
        t.teardown(() => {
            if (t.passing())
                return;
            const all = (this.#earlier.get(m) ?? '') + m.stderr;
            t.comment(`stderr of the mount of ${dev.device}:\n${all.slice(-6000)}`);
        });
        return m;
    }
    /** Starts the mount again on the same state directory (after a crash or a stop). */
    async restart(m) {
        this.#earlier.set(m, (this.#earlier.get(m) ?? '') + m.stderr + '--- restarted ---\n');
        await m.start();
    }
    async dispose() {
        for (const m of this.mounts)
            await m.dispose().catch(() => undefined);
    }
}
export async function status(m) {
    return (await m.statusDirect());
}
export async function waitFor(what, fn, ms = 20_000, every = 100) {
    const end = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v)
            return v;
        if (Date.now() > end)
            throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, every));
    }
}
/** Waits until every local change of the mount is committed; the error tells what was left. */
export async function settled(m, ms = 60_000) {
    let last = null;
    try {
        return await waitFor('pending === 0', async () => {
            last = await status(m);
            return last.pending === 0 && last.uploading === 0 && last;
        }, ms);
    }
    catch (err) {
        throw new Error(`${err.message}; last status ${JSON.stringify(last)}; mount stderr:\n${m.stderr.slice(-3000)}`);
    }
}
/** The server's live file at `p` (null when absent), read block by block through the API. */
export async function serverFile(api, p) {
    const r = await api.get(`/v1/node?path=${encodeURIComponent(p)}`);
    if (r.status === 404 || (r.status === 200 && r.body.deleted))
        return null;
    if (r.status !== 200)
        throw new Error(`GET /v1/node ${p}: ${r.status} ${r.raw.toString()}`);
    return blocksOf(api, r.body.blocks);
}
export async function blocksOf(api, blocks) {
    const parts = [];
    for (const b of blocks) {
        const r = await api.get(`/v1/blocks/${b.hash}`);
        if (r.status !== 200)
            throw new Error(`GET /v1/blocks/${b.hash}: ${r.status}`);
        parts.push(r.raw);
    }
    return Buffer.concat(parts);
}
export async function serverNames(api, dir = '/') {
    const r = await api.get(`/v1/list?path=${encodeURIComponent(dir)}`);
    if (r.status !== 200)
        throw new Error(`GET /v1/list ${dir}: ${r.status} ${r.raw.toString()}`);
    return r.body.entries.map((e) => e.name).sort();
}
/** Every node under `dir` on the server, with sizes and content hashes. */
export async function serverTree(api, dir = '/') {
    const r = await api.get(`/v1/list?path=${encodeURIComponent(dir)}`);
    if (r.status !== 200)
        throw new Error(`GET /v1/list ${dir}: ${r.status} ${r.raw.toString()}`);
    const out = {};
    for (const e of r.body.entries) {
        const p = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
        if (e.kind === 'dir') {
            out[p] = { kind: 'dir', size: 0 };
            Object.assign(out, await serverTree(api, p));
        }
        else {
            const data = await blocksOf(api, e.blocks ?? []);
            out[p] = { kind: 'file', size: e.size, sha256: sha256(data) };
            if (data.length !== e.size)
                out[p].size = -data.length; // blocks disagree with the size
        }
    }
    return out;
}
/** Every node under the mount's `rel`, with sizes and content hashes. */
export async function mountTree(root, rel = '') {
    const out = {};
    for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
        const p = `${rel}/${e.name}`;
        if (e.isDirectory()) {
            out[p] = { kind: 'dir', size: 0 };
            Object.assign(out, await mountTree(root, p));
        }
        else {
            const data = await fs.readFile(path.join(root, p));
            out[p] = { kind: 'file', size: data.length, sha256: sha256(data) };
        }
    }
    return out;
}
//# sourceMappingURL=devices.js.map