/**
 * TLS through real processes (issue 13, item 5): a private CA and a server certificate made in the
 * test with openssl, `loft serve --tls-cert --tls-key`, a real mount with `--ca` against it, the
 * CLI verifying the certificate (refused without the CA, accepted with it) and a share link
 * downloaded over HTTPS with curl checking the same CA.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { settled } from '../helpers/devices.js';
import { MountProcess } from '../helpers/mount-process.js';
import { LOFT_BIN, runLoft, ServerProcess } from '../helpers/server-process.js';

const execFileP = promisify(execFile);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-tls-'));
const f = (name: string) => path.join(tmp, name);

/** A CA, and a certificate for 127.0.0.1 it signed (P-256 keys: fast to make). */
async function makeCertificates(): Promise<void> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await execFileP('openssl', [
    'req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2',
    '-subj', '/CN=Loft test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]); // prettier-ignore
  await execFileP('openssl', [
    'req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1',
  ]); // prettier-ignore
  writeFileSync(
    f('ext.cnf'),
    'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  );
  await execFileP('openssl', [
    'x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'),
  ]); // prettier-ignore
}

let server: ServerProcess;
let token: string;
const mounts: MountProcess[] = [];
t.before(async () => {
  await makeCertificates();
  server = new ServerProcess(undefined, ['--tls-cert', f('server.pem'), '--tls-key', f('server.key')]);
  await server.start();
  token = await server.addUser('alice', ['--device', 'laptop']);
  writeFileSync(f('token'), token + '\n', { mode: 0o600 });
});
t.teardown(async () => {
  for (const m of mounts) await m.dispose().catch(() => undefined);
  await server?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

const env = { LOFT_TOKEN: '', LOFT_STATE: '', LOFT_CA: '' };

t.test('the server speaks HTTPS; the CLI verifies its certificate', async (t) => {
  t.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  const without = await runLoft(['devices', '--server', server.url, '--token-file', f('token')], { env });
  t.equal(without.code, 1, 'no CA given: refused');
  t.match(without.stderr, /^loft: cannot reach https:\/\/.*(certificate|self.signed)/i);
  const withCa = await runLoft(
    ['devices', '--server', server.url, '--token-file', f('token'), '--ca', f('ca.pem')],
    { env },
  );
  t.equal(withCa.code, 0, withCa.stderr);
  t.match(withCa.stdout, /laptop \(this one\)/);
  const notPem = await runLoft(
    ['devices', '--server', server.url, '--token-file', f('token'), '--ca', f('token')],
    { env },
  );
  t.equal(notPem.code, 1);
  t.match(notPem.stderr, /holds no PEM certificate/);
  t.notMatch(notPem.stderr, /loft_/, 'the token file is not echoed');
});

t.test('a real mount against the TLS server, with --ca', async (t) => {
  const bad = new MountProcess(server.url, token, { cacheSize: '64M' });
  mounts.push(bad);
  await t.rejects(bad.start(), /certificate|self.signed/i, 'without the CA the mount refuses');

  const m = new MountProcess(server.url, token, { cacheSize: '64M' });
  mounts.push(m);
  await m.start(['--ca', f('ca.pem')]);
  const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  await writeFile(path.join(m.mountpoint, 'over-tls.bin'), data);
  await settled(m);

  // The CA is remembered in the state dir: the CLI finds server, token and CA there.
  const link = await runLoft(['link', path.join(m.mountpoint, 'over-tls.bin'), '--state', m.state], { env });
  t.equal(link.code, 0, link.stderr);
  const url = link.stdout.trim().split('\n').pop()!;
  t.match(url, /^https:\/\//);
  const out = f('download.bin');
  await execFileP('curl', ['-sf', '--cacert', f('ca.pem'), '-o', out, url]);
  t.ok(readFileSync(out).equals(data), 'the file went up over TLS and comes back byte-exact');
  await t.rejects(execFileP('curl', ['-sf', '-o', out, url]), 'curl without the CA refuses too');
});

t.test('web sign-in over TLS: the session cookie is Secure, HttpOnly and SameSite', async (t) => {
  const child = spawn(process.execPath, [LOFT_BIN, 'user', 'passwd', 'alice', '--data', server.dataDir]);
  child.stdin.end('a web password over tls\n');
  t.equal(await new Promise((r) => child.on('exit', r)), 0);
  const { stdout } = await execFileP('curl', [
    '-sf', '--cacert', f('ca.pem'), '-D', '-', '-o', '/dev/null', '-H', 'content-type: application/json',
    '--data', JSON.stringify({ user: 'alice', password: 'a web password over tls' }),
    `${server.url}/v1/web/signin`,
  ]); // prettier-ignore
  const cookie = /^set-cookie: (.*)$/im.exec(stdout)?.[1] ?? '';
  t.match(cookie, /^loft_session=loft_/);
  for (const attr of ['Secure', 'HttpOnly', 'SameSite=Strict'])
    t.match(cookie, new RegExp(`; ${attr}\\b`), attr);
});
