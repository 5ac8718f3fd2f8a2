/** The read conformance suite through a real FUSE mount of a real `loft mount` process. */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { putFixture, readConformance } from '../conformance/read-conformance.js';
import { Api } from '../helpers/api.js';
import { readAt } from '../helpers/fixtures.js';
import { MountProcess } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';
const execFileP = promisify(execFile);
const server = new ServerProcess();
let m;
t.before(async () => {
    await server.start();
    const token = await server.addUser('conf');
    await putFixture(new Api(server.url, token));
    m = new MountProcess(server.url, token, { cacheSize: '64M' });
    await m.start();
});
t.teardown(async () => {
    await m?.dispose();
    await server.dispose();
});
const at = (p) => path.join(m.mountpoint, p);
const mountAdapter = () => ({
    stat: async (p) => {
        const st = await fs.stat(at(p));
        return {
            size: st.size,
            isDir: st.isDirectory(),
            isFile: st.isFile(),
            mode: st.mode,
            mtimeMs: st.mtimeMs,
        };
    },
    readdir: (p) => fs.readdir(at(p)),
    read: (p, offset, length) => readAt(at(p), offset, length),
    xattr: async (p, name) => {
        try {
            return (await execFileP('getfattr', ['--only-values', '-n', name, at(p)])).stdout;
        }
        catch (err) {
            if (/No such attribute/.test(String(err.stderr)))
                return null;
            throw err;
        }
    },
    listxattr: async (p) => {
        const { stdout } = await execFileP('getfattr', ['-m', '-', at(p)]);
        return stdout
            .split('\n')
            .filter((l) => l && !l.startsWith('#'))
            .map((l) => l.replace(/=.*$/, ''));
    },
});
readConformance(t, 'FUSE mount', mountAdapter);
//# sourceMappingURL=drive-conformance.test.js.map