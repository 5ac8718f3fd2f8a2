/**
 * A full disk under the drive's state directory (a small tmpfs): the block cache gives its space
 * back to local writes first; when nothing is left the writer gets ENOSPC, files already written
 * stay intact and are committed, and the drive keeps working once space is free again.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { MiB, pseudoRandom, putFile, sha256 } from '../helpers/fixtures.js';
import { MountProcess } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';
const root = mkdtempSync(path.join(os.tmpdir(), 'loft-enospc-'));
const state = path.join(root, 'state');
const server = new ServerProcess();
let m;
let mountedTmpfs = false;
/** Size of the tmpfs that holds the drive's state (cache + staging + mirror). */
const DISK = 48 * MiB;
t.teardown(async () => {
    await m?.dispose();
    await server.dispose();
    if (mountedTmpfs)
        execFileSync('umount', ['-l', state]);
    rmSync(root, { recursive: true, force: true });
});
t.test('ENOSPC: the cache gives space back first, then the writer gets ENOSPC and loses nothing', async (t) => {
    mkdirSync(state, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK}`, 'tmpfs', state]);
    mountedTmpfs = true;
    await server.start();
    const token = await server.addUser('full');
    const api = new Api(server.url, token);
    const cloud = pseudoRandom(20 * MiB, 7);
    await putFile(api, '/cloud.bin', cloud);
    m = new MountProcess(server.url, token, { root, state, cacheSize: '24M' });
    await m.start();
    // Fill the cache with the cloud file's blocks.
    t.equal(sha256(await fs.readFile(m.p('cloud.bin'))), sha256(cloud), 'cloud file reads');
    const before = await m.statusDirect();
    t.ok(before.cache.usedBytes >= 18 * MiB, `cache holds ${before.cache.usedBytes} bytes`);
    // 30 MiB of new data does not fit beside the 20 MiB cache on a 48 MiB disk: the cache must yield.
    const first = pseudoRandom(30 * MiB, 8);
    await fs.writeFile(m.p('first.bin'), first).catch((e) => {
        console.error(m?.stderr);
        throw e;
    });
    const after = await m.statusDirect();
    t.ok(after.cache.usedBytes < before.cache.usedBytes, `cache gave space back (${after.cache.usedBytes} bytes left)`);
    t.equal(sha256(await fs.readFile(m.p('first.bin'))), sha256(first), 'the written file reads back intact');
    // Now nothing is left to give: the writer gets ENOSPC.
    const second = pseudoRandom(DISK + 8 * MiB, 9);
    const err = await fs.writeFile(m.p('second.bin'), second).then(() => null, (e) => e);
    t.equal(err?.code, 'ENOSPC', 'a write that cannot fit fails with ENOSPC');
    if (err?.code !== 'ENOSPC')
        console.error(m.stderr);
    t.equal(sha256(await fs.readFile(m.p('first.bin'))), sha256(first), 'the earlier file is untouched');
    t.equal(sha256(await fs.readFile(m.p('cloud.bin'))), sha256(cloud), 'cloud files still read (from the server)');
    // Free the space again: the partial file goes, and the drive commits what it holds.
    await fs.rm(m.p('second.bin'), { force: true });
    const deadline = Date.now() + 60_000;
    let s = await m.statusDirect();
    while (s.pending > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        s = await m.statusDirect();
    }
    if (!t.equal(s.pending, 0, 'everything queued is committed'))
        console.error(JSON.stringify(s), execFileSync('du', ['-a', state]).toString());
    const onServer = await api.get('/v1/node?path=/first.bin');
    t.equal(onServer.body.size, first.length, 'first.bin is on the server at full size');
    t.equal((await api.get('/v1/node?path=/second.bin')).status, 404, 'the removed partial file is not on the server');
});
//# sourceMappingURL=drive-enospc.test.js.map