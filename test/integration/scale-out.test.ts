/**
 * Several stateless servers behind one address (issue 15, item 2), all real processes: two
 * `loft serve --meta postgres://… --blocks s3://…` on the run's PostgreSQL and one bucket of a real
 * S3 server (Ceph RGW), HAProxy in front (test/helpers/balancer.ts), real `loft mount`s.
 *
 * - A pinned to server 1 and B pinned to server 2: a change made on either shows on the other.
 *   The wait is bounded by `waitFor`'s 20 s, below the drive's 25 s long-poll: without the
 *   cross-server wake-ups (PostgreSQL NOTIFY) a change would reach the other only when its poll
 *   times out, and this test fails. No other timing is asserted.
 * - C through the balancer writes a big file with an upload cap (so the upload takes seconds);
 *   once some of it is sent, server 1 is killed (SIGKILL). The drive retries through the balancer
 *   (server 2 now) and the file is committed byte-exact; B, on server 2, reads the same bytes; once
 *   server 1 is back, A (pinned to it) catches up and reads them too.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import t from 'tap';
import { Api } from '../helpers/api.js';
import { startBalancer } from '../helpers/balancer.js';
import { Devices, serverFile, settled, status, waitFor, type Device } from '../helpers/devices.js';
import { testDatabase } from '../helpers/postgres.js';
import { startS3 } from '../helpers/s3.js';
import { ServerProcess } from '../helpers/server-process.js';

const began = performance.now();
const [db, s3] = await Promise.all([testDatabase(), startS3()]);
Object.assign(process.env, db.env, s3.env);
t.comment(`PostgreSQL database + S3 server ready after ${Math.round(performance.now() - began)} ms`);
const stores = ['--meta', db.url, '--blocks', s3.url(await s3.bucket(), 'blocks')];
// The balancer is trusted for X-Forwarded-For (sign-in throttles count per client, not per balancer).
const serveArgs = [...stores, '--trust-proxy', '127.0.0.1'];
const s1 = new ServerProcess(undefined, serveArgs);
const s2 = new ServerProcess(undefined, serveArgs);
// Generous: the machine running the suite is loaded, and each server loads the AWS SDK.
const START_MS = 120_000;
await s1.start(START_MS);
await s2.start(START_MS);
const lb = await startBalancer([s1.url, s2.url]);
t.comment(`two servers and the balancer up after ${Math.round(performance.now() - began)} ms`);
const devices = new Devices(s1);
t.teardown(async () => {
  await devices.dispose();
  await lb.stop();
  await s1.dispose();
  await s2.dispose();
  s3.stop();
  t.comment(`whole file: ${Math.round((performance.now() - began) / 1000)} s`);
});

const tokens: string[] = [];
async function device(name: string, url: string): Promise<Device> {
  const token =
    tokens.length === 0
      ? await s1.addUser('alice', [...stores, '--device', name])
      : await s1.addToken('alice', [...stores, '--device', name]);
  tokens.push(token);
  return { user: 'alice', device: name, token, api: new Api(url, token) };
}

const devA = await device('a', s1.url);
const devB = await device('b', s2.url);
const devC = await device('c', lb.url);

t.test('a change on a device of server 1 shows on a device of server 2, and back', async (t) => {
  const a = devices.mount(t, devA, s1.url);
  const b = devices.mount(t, devB, s2.url);
  await a.start([], START_MS);
  await b.start([], START_MS);
  await fs.mkdir(a.p('shared'));
  const note = Buffer.from('written on A, through server 1\n');
  await fs.writeFile(a.p('shared/note.txt'), note);
  const seen = await waitFor('note.txt on B', async () =>
    fs.readFile(b.p('shared/note.txt')).catch(() => null),
  );
  t.ok(seen.equals(note), 'B (server 2) reads what A wrote through server 1');

  const reply = Buffer.from('an answer from B, through server 2\n');
  await fs.writeFile(b.p('shared/reply.txt'), reply);
  await fs.rename(b.p('shared/note.txt'), b.p('shared/note-read.txt'));
  const back = await waitFor('reply.txt on A', async () =>
    fs.readFile(a.p('shared/reply.txt')).catch(() => null),
  );
  t.ok(back.equals(reply), 'A reads what B wrote');
  await waitFor('the rename on A', async () => (await fs.readdir(a.p('shared'))).includes('note-read.txt'));
  t.notOk((await fs.readdir(a.p('shared'))).includes('note.txt'), 'the old name is gone on A');
});

t.test('server 1 killed mid-upload: the drive retries through the balancer, nothing lost', async (t) => {
  const [a, b] = devices.mounts as [(typeof devices.mounts)[0], (typeof devices.mounts)[0]];
  const c = devices.mount(t, devC, lb.url);
  // 4 MiB/s: the 40 MiB file takes ~10 s to send, time enough to kill a server in the middle.
  await c.start(['--bwlimit', '4M'], START_MS);
  const big = randomBytes(40 * 1024 * 1024 + 12_345);
  await fs.writeFile(c.p('big.bin'), big);
  const under = await waitFor(
    'part of big.bin sent',
    async () => {
      const st = await status(c);
      const up = st.uploads.find((u) => u.path === '/big.bin');
      return up && up.sent > 0 && up.sent < up.toSend && up;
    },
    60_000,
    20,
  );
  t.comment(`killing server 1 with ${under.sent} of ${under.toSend} bytes sent`);
  await s1.kill();
  t.notOk(s1.alive, 'server 1 is gone (SIGKILL)');

  await settled(c, 180_000);
  const api2 = new Api(s2.url, devC.token);
  const onServer = await serverFile(api2, '/big.bin');
  t.ok(onServer && onServer.equals(big), 'committed byte-exact (read through server 2)');
  const viaLb = await serverFile(devC.api, '/big.bin');
  t.ok(viaLb && viaLb.equals(big), 'and through the balancer');

  const onB = await waitFor('big.bin on B', async () => {
    const st = await fs.stat(b.p('big.bin')).catch(() => null);
    return st?.size === big.length && st;
  });
  t.ok(onB);
  t.ok((await fs.readFile(b.p('big.bin'))).equals(big), 'B (server 2) reads the same bytes');

  await s1.start(START_MS);
  const onA = await waitFor(
    'big.bin on A after server 1 is back',
    async () => {
      const st = await fs.stat(a.p('big.bin')).catch(() => null);
      return st?.size === big.length && st;
    },
    60_000,
  );
  t.ok(onA);
  t.ok((await fs.readFile(a.p('big.bin'))).equals(big), 'A (server 1, restarted) reads the same bytes');
});
