/**
 * Devices through real processes (issue 13, item 3): `loft devices` lists a user's device tokens
 * (name, created, last seen), `loft devices revoke NAME` revokes one, and a real mount of the
 * revoked device goes offline with a clear message in `loft status`, keeps serving what it has
 * cached and keeps its unsynced change, which a mount with a new token then sends.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Devices, serverFile, settled, status, waitFor } from '../helpers/devices.js';
import { MountProcess } from '../helpers/mount-process.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const server = new ServerProcess();
const devices = new Devices(server);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'loft-devices-'));
t.before(async () => {
  await server.start();
});
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

t.test('a revoked device goes offline, keeps its cache and its unsynced change', async (t) => {
  const laptop = await devices.newUser('alice');
  const phone = await devices.otherDevice(laptop, 'phone');
  const tokenFile = path.join(tmp, 'laptop.token');
  writeFileSync(tokenFile, laptop.token + '\n', { mode: 0o600 });
  const cli = (args: string[]) =>
    runLoft([...args, '--server', server.url, '--token-file', tokenFile], {
      env: { LOFT_TOKEN: '', LOFT_STATE: '' },
    });

  await laptop.api.writeFile('/cached.txt', [Buffer.from('read before the revoke\n')]);
  const m = devices.mount(t, phone);
  await m.start();
  t.equal(await readFile(path.join(m.mountpoint, 'cached.txt'), 'utf8'), 'read before the revoke\n');
  await writeFile(path.join(m.mountpoint, 'synced.txt'), 'before\n');
  await settled(m);

  const list = await cli(['devices', '--json']);
  t.equal(list.code, 0, list.stderr);
  const seen = JSON.parse(list.stdout).devices as {
    name: string;
    createdAt: number;
    lastSeenAt: number | null;
    live: boolean;
    current: boolean;
  }[];
  t.same(
    seen.map((d) => [d.name, d.live, d.current]),
    [
      ['alice-laptop', true, true],
      ['phone', true, false],
    ],
  );
  t.ok(
    seen.every((d) => d.lastSeenAt !== null && d.lastSeenAt >= d.createdAt),
    'both seen',
  );
  const text = await cli(['devices']);
  t.match(text.stdout, /^NAME\s+CREATED\s+LAST SEEN\s+STATE\n/);
  t.match(text.stdout, /alice-laptop \(this one\)/);

  const revoked = await cli(['devices', 'revoke', 'phone']);
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(revoked.stdout, /revoked the device phone/);
  t.equal((await phone.api.get('/v1/whoami')).status, 401, 'its token: 401 at its next request');

  // A change made after the revoke: kept locally, never sent, never set aside as stuck.
  await writeFile(path.join(m.mountpoint, 'after.txt'), 'made after the revoke\n');
  const s = await waitFor('the mount offline', async () => {
    const st = await status(m);
    return !st.online && st;
  });
  t.match(s.offlineReason, /refused this device's token \(revoked or expired\)/, 'the reason says why');
  t.ok(s.pending >= 1, `the change is queued (${s.pending})`);
  t.same(s.stuck, [], 'not set aside as stuck');
  const human = await runLoft(['status', '--state', m.state]);
  t.match(human.stdout, /OFFLINE \(the server refused this device's token/, 'loft status says it');
  t.equal(
    await readFile(path.join(m.mountpoint, 'cached.txt'), 'utf8'),
    'read before the revoke\n',
    'cache served',
  );
  t.equal(await readFile(path.join(m.mountpoint, 'after.txt'), 'utf8'), 'made after the revoke\n');
  t.equal(await serverFile(laptop.api, '/after.txt'), null, 'not on the server');
  const after = JSON.parse((await cli(['devices', '--json'])).stdout).devices as {
    name: string;
    live: boolean;
  }[];
  t.same(
    after.map((d) => [d.name, d.live]),
    [
      ['alice-laptop', true],
      ['phone', false],
    ],
  );

  // A new token for the same state directory: the kept change goes up.
  await m.stop();
  const newToken = await server.addToken('alice', ['--device', 'phone-2']);
  const again = new MountProcess(server.url, newToken, { root: m.root, state: m.state, cacheSize: '256M' });
  devices.mounts.push(again);
  await again.start();
  await settled(again);
  t.equal((await serverFile(laptop.api, '/after.txt'))?.toString(), 'made after the revoke\n', 'sent');
});
