/**
 * Tokens stay secret (issue 13, item 4), through real processes: a mount given its token in a
 * file (`--token-file`) has no token in its command line (what `ps` shows every local user), and
 * neither the server's log nor the drive's, both at debug level, ever holds a device token, a
 * share link's secret or a link's password, also for refused requests (the server logs every
 * request at debug level: the test checks the requests are there). The state dir and the control socket are the
 * user's alone.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { settled } from '../helpers/devices.js';
import { MountProcess } from '../helpers/mount-process.js';
import { LOFT_BIN, runLoft, ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess(undefined, ['--log-level', 'debug']);
const PASSWORD = 'pw-never-logged-7c1';

/** `loft ARGS…` with `input` on its stdin (a password is read there, never from argv). */
function loftWithInput(args: string[], input: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [LOFT_BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LOFT_TOKEN: '', LOFT_TOKEN_FILE: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-secrets-'));
let m: MountProcess | null = null;
t.teardown(async () => {
  await m?.dispose();
  await server.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

t.test('no token or link secret on a command line or in a log', async (t) => {
  await server.start();
  const token = await server.addUser('erin', ['--device', 'laptop']);
  const tokenFile = path.join(tmp, 'token');
  writeFileSync(tokenFile, token + '\n', { mode: 0o600 });

  // The token only in a file: the environment's LOFT_TOKEN is empty.
  m = new MountProcess(server.url, '', { cacheSize: '64M' });
  await m.start(['--token-file', tokenFile, '--log-level', 'debug']);
  const cmdline = readFileSync(`/proc/${m.pid}/cmdline`, 'utf8');
  t.notOk(cmdline.includes(token), 'not in the mount command line');
  t.ok(cmdline.includes('--token-file'), 'the file is');
  await writeFile(path.join(m.mountpoint, 'shared.txt'), 'shared\n');
  await settled(m);

  const link = await runLoft(['link', path.join(m.mountpoint, 'shared.txt'), '--state', m.state], {
    env: { LOFT_TOKEN: '', LOFT_TOKEN_FILE: '' },
  });
  t.equal(link.code, 0, link.stderr);
  const url = link.stdout.trim().split('\n').pop()!;
  const secret = url.split('/s/')[1]!;
  t.equal(await (await request(url)).body.text(), 'shared\n');
  await (await request(url + '/x/../../y')).body.text();
  await (
    await request(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}x` } })
  ).body.text();
  await (
    await request(`${server.url}/v1/whoami`, { headers: { authorization: `Bearer ${token.slice(0, -1)}Q` } })
  ).body.text();
  // A link with a password (from stdin, never argv), opened with the right and a wrong one.
  const pwLink = await loftWithInput(
    ['link', path.join(m.mountpoint, 'shared.txt'), '--password', '--state', m.state],
    `${PASSWORD}\n`,
  );
  t.equal(pwLink.code, 0, pwLink.stderr);
  const pwUrl = pwLink.stdout.trim().split('\n').pop()!;
  const pwSecret = pwUrl.split('/s/')[1]!;
  const basic = (p: string) => ({ authorization: `Basic ${Buffer.from(`:${p}`).toString('base64')}` });
  t.equal((await request(pwUrl, { headers: basic(PASSWORD) })).statusCode, 200, 'the password opens it');
  const wrong = await request(pwUrl, { headers: basic(PASSWORD + 'x') });
  await wrong.body.text();
  t.equal(wrong.statusCode, 401);
  const revoke = await runLoft(['link', 'revoke', url, '--server', server.url, '--token-file', tokenFile]);
  t.equal(revoke.code, 0, revoke.stderr);
  t.equal((await request(url)).statusCode, 404);

  await m.stop();
  t.comment(`server log: ${server.stderr.length} bytes, drive log: ${m.stderr.length} bytes`);
  for (const [what, log] of [
    ['server log', server.stderr],
    ['drive log', m.stderr],
    ['loft link output (but its URL)', link.stderr],
  ] as const) {
    t.notOk(log.includes(token), `${what}: no device token`);
    t.notOk(log.includes(token.slice(5, 25)), `${what}: no part of it`);
    t.notOk(log.includes(secret), `${what}: no link secret`);
    t.notOk(log.includes(pwSecret), `${what}: no secret of the password link`);
    t.notOk(log.includes(PASSWORD), `${what}: no link password`);
  }
  // The server did log at debug level (one line per request, the link's secret cut out), so the
  // checks above looked at a log that had the requests in it.
  t.match(server.stderr, /"url":"\/v1\/whoami".*"status":401/, 'refused requests are in the log');
  t.match(server.stderr, /"url":"\/s\/<secret>"/, 'link requests are, their secret cut out');

  // The state dir and what is in it: the user's alone.
  t.equal(statSync(m.state).mode & 0o777, 0o700, 'state dir 0700');
  t.equal(statSync(path.join(m.state, 'config.json')).mode & 0o777, 0o600, 'config.json (token) 0600');
  t.equal(JSON.parse(readFileSync(path.join(m.state, 'config.json'), 'utf8')).token, token, 'remembered');
});
