/** `loft user passwd` (password from stdin) and `loft search`, against a real server. */
import { spawn } from 'node:child_process';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { LOFT_BIN, runLoft, ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
t.teardown(() => server.dispose());
await server.start();
const token = await server.addUser('alice');
const api = new Api(server.url, token);

function passwd(user: string, input: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [LOFT_BIN, 'user', 'passwd', user, '--data', server.dataDir]);
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  child.stdin.end(input);
  return new Promise((r) => child.on('exit', (code) => r({ code, out, err })));
}

async function signin(password: string): Promise<number> {
  const res = await fetch(`${server.url}/v1/web/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'alice', password }),
  });
  return res.status;
}

t.test('loft user passwd reads the password from stdin; bad input is one line on stderr', async (t) => {
  const short = await passwd('alice', 'short\n');
  t.not(short.code, 0);
  t.match(short.err, /^loft: .*at least 8 characters.*\n$/);
  const nobody = await passwd('nobody', 'long enough password\n');
  t.not(nobody.code, 0);
  t.match(nobody.err, /no user nobody/);
  t.equal(await signin('long enough password'), 401, 'no web password yet: no sign-in');
  const ok = await passwd('alice', 'long enough password\nignored second line\n');
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, /web password of alice set/);
  t.equal(await signin('long enough password'), 200);
  t.equal(await signin('ignored second line'), 401);
});

t.test('loft search', async (t) => {
  for (const p of ['/Projects/Annual report', '/Projects/notes'])
    t.equal((await api.post('/v1/mkdir', { path: p, parents: true })).status, 200);
  const flags = ['--server', server.url, '--token', token];
  const r = await runLoft(['search', 'REPORT', ...flags]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '/Projects/Annual report/\tfolder\n');
  const j = await runLoft(['search', 'proj', '--json', ...flags]);
  t.match(JSON.parse(j.stdout), { hits: [{ path: '/Projects', kind: 'dir' }], truncated: false });
  const none = await runLoft(['search', 'zebra', ...flags]);
  t.equal(none.code, 0);
  t.equal(none.stdout, '');
  t.match(none.stderr, /nothing named like/);
  const bad = await runLoft(['search', 'x', '--limit', '0', ...flags]);
  t.not(bad.code, 0);
  t.match(bad.stderr, /^loft: --limit wants a number/);
  const noAuth = await runLoft(['search', 'x', '--server', server.url, '--token', 'loft_' + 'A'.repeat(43)]);
  t.not(noAuth.code, 0);
  t.match(noAuth.stderr, /unknown, revoked or expired token/);
});

// Last: the throttle also holds the address, so later sign-ins from 127.0.0.1 would wait.
t.test('failed sign-ins are throttled: 429 with Retry-After, the password not even checked', async (t) => {
  // One failure is already counted (the last test's wrong password); five in a row start the delay.
  let refused = 0;
  let status = 401;
  while (status === 401 && refused < 10) if ((status = await signin(`wrong ${refused}`)) === 401) refused++;
  t.equal(refused, 4, 'four more failures, then the fifth in a row is held');
  t.equal(status, 429);
  const res = await fetch(`${server.url}/v1/web/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'alice', password: 'long enough password' }),
  });
  t.equal(res.status, 429, 'even the right password waits');
  t.equal(res.headers.get('retry-after'), '1');
  t.match(await res.json(), { error: { code: 'TOO_MANY_REQUESTS', retryAfter: 1 } });
});
