/** The read conformance suite through a real FUSE mount of a real `loft mount` process. */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { putFixture, readConformance, type ReadFs } from '../conformance/read-conformance.js';
import { Api } from '../helpers/api.js';
import { readAt } from '../helpers/fixtures.js';
import { MountProcess } from '../helpers/mount-process.js';
import { ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
const server = new ServerProcess();
let m: MountProcess;

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

const at = (p: string) => path.join(m.mountpoint, p);

const mountAdapter = (): ReadFs => ({
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
    } catch (err) {
      if (/No such attribute/.test(String((err as { stderr?: string }).stderr))) return null;
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

t.test('loft status names the FUSE backend and what it negotiated', async (t) => {
  const { fuse } = await m.status();
  t.equal(fuse.backend, m.backend);
  if (fuse.backend === 'lowlevel') {
    t.equal(fuse.maxWrite, 1024 * 1024, '1 MiB requests (max_pages)');
    if (process.getuid?.() === 0) t.equal(fuse.readaheadKb, 1024, 'readahead raised to one request');
  } else {
    t.equal(fuse.notify, true, 'the patched fuse-native can invalidate');
  }
});
