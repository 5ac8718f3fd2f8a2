/**
 * `loft check` against a real `loft serve` and a real `loft mount`: in sync (exit 0, the summary),
 * a local change still queued (exit 1, pending), server changes the stopped drive has not pulled
 * (exit 1, pending, no difference), a mirror made out of sync behind the drive's back (exit 1, each
 * path with its kind of difference, the --json shape), and the check that cannot be made (a refused
 * token, a server out of reach: exit 2, one line), and a change the server keeps refusing (stuck).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { checkDrive, Devices, settled, status, waitFor, type Device } from '../helpers/devices.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import type { MountProcess } from '../helpers/mount-process.js';
import { runLoft, ServerProcess, type CliResult } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
t.before(async () => {
  await server.start();
});
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
});

interface CheckJson {
  inSync: boolean;
  summary: string;
  matching: number;
  differences: {
    kind: string;
    path: string;
    local: { path: string; kind: string; rev: number; size: number } | null;
    server: { path: string; kind: string; rev: number; size: number } | null;
    deletedAt?: number | null;
  }[];
  pending: { op: string; path: string }[];
  notPulled: { path: string; rev: number; deleted: boolean }[];
  stuck: unknown[];
  unsettled: number;
  serverNodes: number;
  driveNodes: number;
  cursor: string;
}

function check(m: MountProcess, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runLoft(['check', '--state', m.state, ...extra], { env });
}

async function checkJson(t: Test, m: MountProcess, code: number): Promise<CheckJson> {
  const r = await check(m, ['--json']);
  t.equal(r.code, code, `exit ${code} (stderr: ${r.stderr.trim()})`);
  t.equal(r.stdout.trim().split('\n').length, 1, '--json prints one line');
  return JSON.parse(r.stdout) as CheckJson;
}

/** The drive's pull is a long-poll away from the pushes it made: wait until the check agrees. */
async function inSync(m: MountProcess): Promise<CliResult> {
  let last: CliResult | null = null;
  return waitFor(
    'loft check: in sync',
    async () => {
      const r = await check(m);
      last = r;
      return r.code === 0 && r;
    },
    30_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the last check said:\n${last?.stdout}${last?.stderr}`);
  });
}

async function nodeId(dev: Device, p: string): Promise<{ id: number; rev: number }> {
  const r = await dev.api.get(`/v1/node?path=${encodeURIComponent(p)}`);
  if (r.status !== 200) throw new Error(`GET /v1/node ${p}: ${r.status}`);
  return r.body as { id: number; rev: number };
}

t.test(
  'a drive in sync, a change still queued, server changes not pulled, a mirror out of sync',
  async (t) => {
    const dev = await devices.newUser('checker');
    const m = devices.mount(t, dev);
    await m.start();
    await fs.mkdir(m.p('docs/deep'), { recursive: true });
    await fs.writeFile(m.p('docs/a.txt'), 'alpha\n');
    await fs.writeFile(m.p('docs/deep/b.txt'), 'bravo\n');
    await fs.writeFile(m.p('c.txt'), 'charlie\n');
    await fs.writeFile(m.p('gone.txt'), 'to be deleted\n');
    await fs.rename(m.p('docs/deep'), m.p('docs/moved'));
    await fs.unlink(m.p('gone.txt'));
    const wait = await runLoft(['status', '--wait', '--state', m.state]);
    t.equal(wait.code, 0, wait.stderr);

    // In sync: exit 0, the summary line first.
    // `loft status --wait && loft check`: the drive's own pushes leave its mirror as the server is.
    const ok = await check(m);
    t.equal(ok.code, 0, `in sync right after status --wait: ${ok.stdout}`);
    t.match(ok.stdout, /^check: 5 matching, 0 differences\n/, ok.stdout);
    t.match(ok.stdout, /\nin sync \(6 nodes on the server, the root included\)\n$/);
    t.equal(ok.stderr, '');
    const okJson = await checkJson(t, m, 0);
    t.match(okJson, { inSync: true, matching: 5, differences: [], pending: [], notPulled: [], stuck: [] });

    // A change from another device reaches the running drive: in sync again.
    const phone = await devices.otherDevice(dev, 'checker-phone');
    t.equal((await phone.api.writeFile('/docs/from-phone.txt', [Buffer.from('hello\n')])).status, 200);
    const after = await waitFor(
      "the phone's file in the drive",
      async () => {
        const c = await checkDrive(m);
        return c.code === 0 && c.report;
      },
      30_000,
      200,
    );
    t.equal(after.matching, 6, 'the helper tests use');

    // A file open for writing: its change is queued, not yet on the server.
    const log = await fs.open(m.p('app.log'), 'w');
    await log.write('first line\n');
    await log.sync();
    const busy = await check(m);
    t.equal(busy.code, 1, 'not in sync while a change is queued');
    t.match(
      busy.stdout,
      /^check: 6 matching, 0 differences; not in sync yet: 1 pending \(1 local change queued\)\n/,
    );
    t.match(busy.stdout, /\n {2}· commit \/app\.log\n/);
    await log.close();
    await settled(m);
    await inSync(m);

    // The drive stopped; changes on the server meanwhile are pending, not differences.
    await m.stop();
    const stopped = await check(m);
    t.equal(stopped.code, 0, `a stopped drive in sync checks as in sync: ${stopped.stdout}${stopped.stderr}`);
    t.equal((await phone.api.writeFile('/later.txt', [Buffer.from('later\n')])).status, 200);
    const c = await nodeId(dev, '/c.txt');
    const del = await phone.api.post('/v1/delete', { id: c.id, parentRev: c.rev });
    t.equal(del.status, 200);
    const behind = await checkJson(t, m, 1);
    t.same(behind.differences, [], 'nothing differs but what the pull has not reached yet');
    t.match(behind.notPulled, [
      { path: '/later.txt', deleted: false },
      { path: '/c.txt', deleted: true },
    ]);
    t.match(
      behind.summary,
      /^check: \d+ matching, 0 differences; not in sync yet: 2 pending \(2 server changes not pulled yet\)$/,
    );

    // The mirror edited behind the drive's back (a bug or a damaged disk would look like this).
    const a = await nodeId(dev, '/docs/a.txt');
    const moved = await nodeId(dev, '/docs/moved');
    const b = await nodeId(dev, '/docs/moved/b.txt');
    const phoneFile = await nodeId(dev, '/docs/from-phone.txt');
    const db = new Database(path.join(m.state, 'mirror.db'));
    try {
      // Rows are found by server id (the mirror's keys are its own).
      const key = '(SELECT id FROM nodes WHERE server_id = ?)';
      db.prepare(`DELETE FROM blocks WHERE node_id = ${key}`).run(phoneFile.id);
      db.prepare('DELETE FROM nodes WHERE server_id = ?').run(phoneFile.id); // missing here
      db.prepare(`UPDATE blocks SET hash = ? WHERE node_id = ${key}`).run('f'.repeat(64), a.id); // other content
      db.prepare('UPDATE nodes SET rev = rev - 1 WHERE server_id = ?').run(b.id); // other revision
      db.prepare("UPDATE nodes SET name = 'deep' WHERE server_id = ?").run(moved.id); // other place
      db.prepare(
        // in the drive only, never on the server, nothing queued
        `INSERT INTO nodes (id, server_id, parent_id, name, kind, rev, size, mtime, mode) VALUES (999999, 999999, ${key}, 'phantom', 'dir', 3, 0, 0, 493)`,
      ).run(moved.id);
    } finally {
      db.close();
    }
    const bad = await check(m);
    t.equal(bad.code, 1, bad.stderr);
    const lines = bad.stdout.split('\n');
    t.match(lines[0], /^check: \d+ matching, 5 differences \(.*\); not in sync yet: 2 pending/);
    for (const [kind, p] of <[string, string][]>[
      ['content', '/docs/a.txt'],
      ['missing', '/docs/from-phone.txt'],
      ['place', '/docs/deep'],
      ['revision', '/docs/deep/b.txt'],
      ['extra', '/docs/deep/phantom'],
    ])
      t.ok(
        lines.some((l) => l.startsWith(`  ✗ ${kind.padEnd(8)} ${p}:`)),
        `a line names ${p} (${kind}): ${bad.stdout}`,
      );
    const j = await checkJson(t, m, 1);
    t.equal(j.inSync, false);
    t.same(
      j.differences.map((d) => [d.kind, d.path]),
      [
        ['content', '/docs/a.txt'],
        ['place', '/docs/deep'],
        ['revision', '/docs/deep/b.txt'],
        ['extra', '/docs/deep/phantom'],
        ['missing', '/docs/from-phone.txt'],
      ],
    );
    const byPath = new Map(j.differences.map((d) => [d.path, d]));
    t.same(byPath.get('/docs/deep/b.txt'), {
      kind: 'revision',
      path: '/docs/deep/b.txt',
      local: { path: '/docs/deep/b.txt', kind: 'file', rev: b.rev - 1, size: 6 },
      server: { path: '/docs/moved/b.txt', kind: 'file', rev: b.rev, size: 6 },
    });
    t.match(byPath.get('/docs/deep'), { server: { path: '/docs/moved' } });
    t.match(byPath.get('/docs/from-phone.txt'), { local: null, server: { rev: phoneFile.rev, size: 6 } });
    t.match(byPath.get('/docs/deep/phantom'), { server: null, deletedAt: null });
    t.equal(typeof j.cursor, 'string');
    t.ok(j.serverNodes > 0 && j.driveNodes > 0);
  },
);

t.test('shared folders: checked with the home; a change made behind the drive\'s back is named', async (t) => {
  const owner = await devices.newUser('sharer');
  const member = await devices.newUser('joiner');
  t.equal((await owner.api.writeFile('/team/plan.txt', [Buffer.from('plan\n')])).status, 200);
  t.equal((await owner.api.writeFile('/team/deep/notes.txt', [Buffer.from('notes\n')])).status, 200);
  t.equal((await member.api.writeFile('/own.txt', [Buffer.from('own\n')])).status, 200);
  const tokenFile = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'loft-check-share-')), 'token');
  await fs.writeFile(tokenFile, owner.token + '\n', { mode: 0o600 });
  const share = await runLoft(['share', '/team', '--with', 'joiner', '--server', server.url, '--token-file', tokenFile], {
    env: { LOFT_TOKEN: '', LOFT_STATE: '', LOFT_SERVER: '' },
  });
  t.equal(share.code, 0, share.stderr);
  const m = devices.mount(t, member);
  await m.start();
  await waitFor('the shared folder on the drive', async () =>
    fs.readFile(m.p('team/deep/notes.txt'), 'utf8').catch(() => null),
  );
  // The member moves it into a folder of his own (his placement), and writes in it.
  await fs.mkdir(m.p('mine'));
  await fs.rename(m.p('team'), m.p('mine/team'));
  await fs.writeFile(m.p('mine/team/from-joiner.txt'), 'joiner\n');
  await settled(m);
  const ok = await inSync(m);
  // own.txt, mine, team, plan.txt, deep, notes.txt, from-joiner.txt
  t.match(ok.stdout, /^check: 7 matching, 0 differences\n/, ok.stdout);
  t.equal(
    (await checkJson(t, m, 0)).serverNodes,
    8,
    "the home's root and the 7 nodes (the shared folder's root is /mine/team)",
  );

  // The owner changes the folder while the drive is stopped: pending, not a difference.
  await m.stop();
  const plan = await nodeId(owner, '/team/plan.txt');
  t.equal((await owner.api.writeFile('/team/plan.txt', [Buffer.from('plan v2\n')], plan.rev)).status, 200);
  const behind = await checkJson(t, m, 1);
  t.same(behind.differences, [], 'nothing differs');
  t.match(behind.notPulled, [{ path: '/mine/team/plan.txt', deleted: false }], 'the change not pulled yet');

  // The drive's mirror edited behind its back inside the shared folder.
  const notes = await nodeId(owner, '/team/deep/notes.txt');
  const db = new Database(path.join(m.state, 'mirror.db'));
  try {
    db.prepare("UPDATE nodes SET name = 'renamed.txt' WHERE server_id = ?").run(notes.id);
  } finally {
    db.close();
  }
  const bad = await checkJson(t, m, 1);
  t.same(
    bad.differences.map((d) => [d.kind, d.path]),
    [['place', '/mine/team/deep/renamed.txt']],
    'the difference, at its path in the drive',
  );
  t.match(bad.differences[0], { server: { path: '/mine/team/deep/notes.txt' } });
});

t.test('a stuck change is reported; a check that cannot be made exits 2 with one line', async (t) => {
  const dev = await devices.newUser('nocheck');
  const proxy = new FaultProxy(Number(new URL(server.url).port));
  await proxy.start();
  t.teardown(() => proxy.close());
  const m = devices.mount(t, dev, proxy.url);
  await m.start();
  proxy.refuse('poison.txt');
  await fs.writeFile(m.p('poison.txt'), 'refused\n');
  await waitFor(
    'the refused change set aside',
    async () => ((await status(m)) as { stuck?: unknown[] }).stuck?.length === 1,
    60_000,
    200,
  );
  const stuck = await check(m);
  t.equal(stuck.code, 1, stuck.stderr);
  t.match(stuck.stdout, /^check: 0 matching, 0 differences; 1 stuck\n/);
  t.match(stuck.stdout, /\n {2}✗ stuck: commit \/poison\.txt: .*injected fault.* \(\d+ attempts, since /);
  const j = await checkJson(t, m, 1);
  t.match(j.stuck, [{ op: 'commit', path: '/poison.txt', error: /injected fault/ }]);
  t.same(j.pending, [], 'a stuck change is not counted as pending too');

  const refused = await check(m, [], { LOFT_TOKEN: 'loft_' + 'A'.repeat(43) });
  t.equal(refused.code, 2);
  t.match(
    refused.stderr,
    /^loft: check failed: .* refused the drive's token: unknown, revoked or expired token\n$/,
  );
  t.equal(refused.stdout, '');
  t.notMatch(refused.stderr, /AAAA/, 'the token is not echoed');
  const usage = await check(m, ['--bogus']);
  t.equal(usage.code, 2, 'usage errors exit with 2');
  t.match(usage.stderr, /^loft: unknown option '--bogus' \(see --help\)\n$/);
  const help = await runLoft(['check', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Exit codes:\n {2}0 {2}in sync/);
  const none = await runLoft(['check', '--state', path.join(m.root, 'no-such-state')]);
  t.equal(none.code, 2);
  t.match(none.stderr, /^loft: check failed: .*no-such-state holds no drive/);
  // The server out of reach.
  proxy.offline();
  const down = await check(m);
  t.equal(down.code, 2, down.stdout);
  t.match(down.stderr, /^loft: check failed: cannot reach http:\/\/127\.0\.0\.1:\d+: .*\n$/);
  t.equal(down.stderr.split('\n').length, 2, 'one line');
  await m.stop();
});
