/**
 * `loft serve --meta postgres://…` as a real server process on the run's PostgreSQL cluster:
 * users and tokens made by `loft user add/token --meta`, a device writes a file through a real
 * mount, another device of the user reads it back through its own mount; `loft gc --meta` runs
 * beside it. The password travels in PGPASSWORD only; a URL with one, or a server that is not
 * there, is a one-line error.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { Devices, settled, waitFor } from '../helpers/devices.js';
import { testDatabase } from '../helpers/postgres.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const db = await testDatabase();
process.env.PGPASSWORD = db.env.PGPASSWORD;
const server = new ServerProcess(undefined, ['--meta', db.url]);
const devices = new Devices(server);
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
});

t.test('a device puts a file, another device of the user reads it back', async (t) => {
  await server.start();
  const laptop = await server.addUser('alice', ['--meta', db.url, '--device', 'laptop']);
  const phone = await server.addToken('alice', ['--meta', db.url, '--device', 'phone']);
  t.notOk(
    existsSync(path.join(server.dataDir, 'meta.db')),
    'no SQLite database: the metadata is in PostgreSQL',
  );
  const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8');
  t.notMatch(cmdline, db.env.PGPASSWORD, 'the password is not on the command line');

  const a = devices.mount(t, {
    user: 'alice',
    device: 'laptop',
    token: laptop,
    api: new Api(server.url, laptop),
  });
  await a.start();
  const content = Buffer.alloc(3 * 1024 * 1024 + 17, 'loft on postgres ');
  await fs.mkdir(a.p('docs'));
  await fs.writeFile(a.p('docs/report.txt'), content);
  await settled(a);

  const b = devices.mount(t, {
    user: 'alice',
    device: 'phone',
    token: phone,
    api: new Api(server.url, phone),
  });
  await b.start();
  const read = await waitFor('the file on the second device', async () =>
    fs.readFile(b.p('docs/report.txt')).catch(() => null),
  );
  t.ok(read.equals(content), 'the same bytes');

  const gc = await runLoft(['gc', '--data', server.dataDir, '--meta', db.url, '--json']);
  t.equal(gc.code, 0, gc.stderr);
  t.match(JSON.parse(gc.stdout), { deletedBlocks: 0 });
  t.ok((await fs.readFile(b.p('docs/report.txt'))).equals(content), 'still readable after a gc run');
});

t.test('bad --meta: one line, non-zero exit, no password echoed', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-badmeta-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // (A made-up password: test names and messages never show it.)
  const cases: [string, string, RegExp][] = [
    [
      'a password in the URL',
      db.url.replace('loft@', 'loft:hunter2@'),
      /no password in the --meta URL.*PGPASSWORD/,
    ],
    ['another database kind', 'mysql://loft@127.0.0.1/x', /--meta must be postgres:\/\//],
    [
      'nobody listening',
      'postgres://loft@127.0.0.1:1/loft',
      /metadata store 127\.0\.0\.1:1\/loft: .*ECONNREFUSED/,
    ],
  ];
  for (const [what, url, want] of cases) {
    const r = await runLoft(['user', 'add', 'bob', '--data', dir, '--meta', url]);
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.stderr, want, what);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
    t.notMatch(r.stderr, 'hunter2', `${what}: the password is not echoed`);
  }
  const wrong = await runLoft(['user', 'add', 'bob', '--data', dir, '--meta', db.url], {
    env: { PGPASSWORD: 'wrong' },
  });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /password authentication failed/);
});
