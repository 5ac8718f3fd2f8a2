/**
 * `loft serve --meta postgres://… --blocks s3://…` as a real server process on the run's
 * PostgreSQL cluster and a real S3 server (Ceph RGW, test/helpers/s3.ts): a device writes a file
 * through a real mount, another device of the user reads it back through its own; the blocks are
 * objects in the bucket and nothing is under --data. `loft gc --meta --blocks` deletes the blocks
 * of purged history from the bucket. Keys travel in the environment only; a bad --blocks is a
 * one-line error that echoes no secret.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { sha256hex } from '../../src/shared/hash.js';
import { Api } from '../helpers/api.js';
import { Devices, settled, waitFor } from '../helpers/devices.js';
import { testDatabase } from '../helpers/postgres.js';
import { startS3 } from '../helpers/s3.js';
import { runLoft, ServerProcess } from '../helpers/server-process.js';

const [db, s3] = await Promise.all([testDatabase(), startS3()]);
t.comment(`radosgw answered ${s3.startMs} ms after the first command`);
Object.assign(process.env, db.env, s3.env);
const bucket = await s3.bucket();
const blocksUrl = s3.url(bucket, 'blocks');
const stores = ['--meta', db.url, '--blocks', blocksUrl];
const server = new ServerProcess(undefined, stores);
const devices = new Devices(server);
const raw = new S3Client({
  endpoint: s3.endpoint,
  region: s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY },
});
t.teardown(async () => {
  await devices.dispose();
  await server.dispose();
  raw.destroy();
  s3.stop();
});

async function objectKeys(): Promise<string[]> {
  const page = await raw.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'blocks/' }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

async function hasObject(hash: string): Promise<boolean> {
  try {
    await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: `blocks/${hash}` }));
    return true;
  } catch {
    return false;
  }
}

t.test('a device puts a file, another device of the user reads it back', async (t) => {
  await server.start();
  const laptop = await server.addUser('alice', [...stores, '--device', 'laptop']);
  const phone = await server.addToken('alice', [...stores, '--device', 'phone']);
  const cmdline = readFileSync(`/proc/${server.pid}/cmdline`, 'utf8');
  t.notMatch(cmdline, s3.env.AWS_SECRET_ACCESS_KEY, 'the S3 secret is not on the command line');

  const a = devices.mount(t, {
    user: 'alice',
    device: 'laptop',
    token: laptop,
    api: new Api(server.url, laptop),
  });
  await a.start();
  const content = Buffer.alloc(3 * 1024 * 1024 + 17, 'loft on s3 ');
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

  const keys = await objectKeys();
  t.ok(keys.length >= 1, `${keys.length} block object(s) in the bucket`);
  t.ok(
    keys.every((k) => /^blocks\/[0-9a-f]{64}$/.test(k)),
    'every object is blocks/HASH',
  );
  t.same(readdirSync(server.dataDir), [], 'nothing under --data: no meta.db, no blocks/');
});

t.test('loft gc --blocks s3://… deletes the blocks of purged history from the bucket', async (t) => {
  const token = await server.addUser('bob', stores);
  const bob = new Api(server.url, token);
  const oldData = Buffer.from('old revision '.repeat(5000));
  const v1 = await bob.writeFile('/gc.bin', [oldData]);
  t.equal(v1.status, 200);
  const v2 = await bob.writeFile('/gc.bin', [Buffer.from('new revision '.repeat(4000))], v1.body.rev);
  t.equal(v2.status, 200);
  const oldHash = sha256hex(oldData);
  const currentHash: string = v2.body.node.blocks[0].hash;
  t.ok(await hasObject(oldHash), 'the old block is an object before gc');

  const gc = await runLoft(['gc', ...stores, '--keep-days', '0', '--gc-grace', '0s', '--json']);
  t.equal(gc.code, 0, gc.stderr);
  const report = JSON.parse(gc.stdout);
  t.ok(report.deletedBlocks >= 1, `deleted ${report.deletedBlocks} block(s)`);
  t.ok(report.freedBytes > 0, `freed ${report.freedBytes} bytes`);
  t.notOk(await hasObject(oldHash), 'the old block object is gone from the bucket');
  t.ok(await hasObject(currentHash), 'the current block stays');
  t.equal((await bob.get(`/v1/blocks/${oldHash}`)).status, 404, 'GET of a collected block');
  const cur = await bob.get(`/v1/blocks/${currentHash}`);
  t.equal(cur.status, 200);
  t.equal(sha256hex(cur.raw), currentHash, 'the current block reads back');
  t.same((await bob.post('/v1/blocks/missing', { hashes: [oldHash] })).body.missing, [oldHash]);
  const again = await bob.putBlock(oldData);
  t.equal(again.status, 201, 'a collected block can be sent again');
  t.ok(await hasObject(oldHash));
});

t.test('bad --blocks: one line, non-zero exit, no secret echoed', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-badblocks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // (A made-up secret: test names and messages never show it.)
  const cases: [string, string, RegExp, NodeJS.ProcessEnv?][] = [
    ['keys in the URL', `s3://AKIAX:hunter2@${bucket}`, /no credentials in the --blocks URL/],
    ['not a URL', 'hunter2@nowhere', /--blocks wants s3:\/\/BUCKET/],
    ['a directory', '/srv/blocks', /--blocks wants s3:\/\/BUCKET/],
    ['no such bucket', s3.url('no-such-bucket'), /S3 bucket no-such-bucket at .*: no such bucket/],
    [
      'a wrong secret',
      blocksUrl,
      /access denied \(check AWS_ACCESS_KEY_ID/,
      { AWS_SECRET_ACCESS_KEY: 'hunter2' },
    ],
  ];
  for (const [what, url, want, env] of cases) {
    const r = await runLoft(['user', 'add', 'carol', '--data', dir, '--blocks', url], env ? { env } : {});
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.stderr, want, what);
    t.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line`);
    t.notMatch(r.stderr, 'hunter2', `${what}: the secret is not echoed`);
  }
  t.notOk(existsSync(path.join(dir, 'meta.db')), 'no store was created on failure');
});
