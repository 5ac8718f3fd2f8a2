/** The read conformance suite against the VFS in-process (no FUSE), backed by a real server process. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import '../../helpers/exit-promptly.js';
import t from 'tap';
import { openDriveCore } from '../../../src/client/client.js';
import { FsError } from '../../../src/shared/errors.js';
import { silentLogger } from '../../../src/shared/log.js';
import { putFixture, readConformance } from '../../conformance/read-conformance.js';
import { Api } from '../../helpers/api.js';
import { ServerProcess } from '../../helpers/server-process.js';
const server = new ServerProcess();
const state = mkdtempSync(path.join(os.tmpdir(), 'loft-vfs-'));
let core;
t.before(async () => {
    await server.start();
    const token = await server.addUser('conf');
    await putFixture(new Api(server.url, token));
    core = await openDriveCore({
        server: server.url,
        token,
        state,
        cacheBytes: 64 * 1024 * 1024,
        log: silentLogger(),
    });
});
t.teardown(async () => {
    await core?.close();
    await server.dispose();
    rmSync(state, { recursive: true, force: true });
});
/** VFS errors carry the errno name as `code`, as node's fs errors do. */
async function errno(fn) {
    try {
        return await fn();
    }
    catch (err) {
        if (err instanceof FsError)
            throw Object.assign(new Error(err.message), { code: err.errno });
        throw err;
    }
}
const vfsAdapter = () => {
    const vfs = core.vfs;
    return {
        stat: (p) => errno(() => {
            const st = vfs.getattr(p);
            const type = st.mode & 0o170000;
            return {
                size: st.size,
                isDir: type === 0o040000,
                isFile: type === 0o100000,
                mode: st.mode,
                mtimeMs: st.mtime.getTime(),
            };
        }),
        readdir: (p) => errno(() => vfs.readdir(p).names.filter((n) => n !== '.' && n !== '..')),
        read: (p, offset, length) => errno(async () => {
            const fh = await vfs.open(p, 0);
            try {
                const out = Buffer.alloc(length);
                const n = await vfs.read(fh, out, offset);
                return out.subarray(0, n);
            }
            finally {
                await vfs.release(fh);
            }
        }),
        xattr: (p, name) => errno(() => vfs.getxattr(p, name)?.toString() ?? null),
        listxattr: (p) => errno(() => vfs.listxattr(p)),
    };
};
readConformance(t, 'Vfs in-process', vfsAdapter);
//# sourceMappingURL=vfs-conformance.test.js.map