/**
 * S3BlockStore against a real S3 server (Ceph RADOS Gateway, test/helpers/s3.ts): the BlockStore
 * contract suite unchanged, both codecs; then the object layout, damage caught on get and by the
 * piece hashes of a range, and bad URLs, a missing bucket, wrong credentials or no server as one
 * clear error.
 */
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { HEADER_SIZE } from '../../src/blockstore/block-codec.js';
import { parseS3Url, S3BlockStore } from '../../src/blockstore/s3-block-store.js';
import { PIECE_SIZE, sha256hex } from '../../src/shared/hash.js';
import { blockStoreContract } from '../contract/block-store-contract.js';
import { startS3 } from '../helpers/s3.js';

const MAX = 2 * 1024 * 1024;
const s3 = await startS3();
t.comment(`radosgw answered ${s3.startMs} ms after the first command`);
t.teardown(() => s3.stop());
Object.assign(process.env, s3.env);
const bucket = await s3.bucket();
let stores = 0;
/** A fresh, empty store: its own key prefix in the file's bucket. */
const fresh = (compression: 'brotli' | 'none') => () =>
  S3BlockStore.open({
    location: parseS3Url(s3.url(bucket, `contract-${stores++}`)),
    maxBlockSize: MAX,
    compression,
  });

blockStoreContract(t, 'S3BlockStore (brotli)', fresh('brotli'), MAX);
blockStoreContract(t, 'S3BlockStore (raw)', fresh('none'), MAX);

const raw = new S3Client({
  endpoint: s3.endpoint,
  region: s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY },
});
t.teardown(() => raw.destroy());

t.test('blocks are objects under the prefix, compressed when it pays', async (t) => {
  const store = await S3BlockStore.open({ location: parseS3Url(s3.url(bucket, 'layout')) });
  t.teardown(() => store.close());
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(20_000));
  const noise = randomBytes(text.length);
  const r1 = await store.put(sha256hex(text), text);
  const r2 = await store.put(sha256hex(noise), noise);
  t.ok(r1.storedSize < text.length / 10, `text stored in ${r1.storedSize} bytes`);
  t.equal(r2.storedSize, noise.length + HEADER_SIZE + 32 * Math.ceil(noise.length / PIECE_SIZE));
  const obj = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: `layout/${sha256hex(text)}` }));
  t.equal(obj.ContentLength, r1.storedSize, 'one object per block, key PREFIX/HASH');
});

t.test('list pages through ListObjectsV2 and yields only block keys under the prefix', async (t) => {
  const store = await S3BlockStore.open({ location: parseS3Url(s3.url(bucket, 'paged')), listPageSize: 7 });
  t.teardown(() => store.close());
  const hashes = new Set<string>();
  for (let i = 0; i < 23; i++) {
    const d = randomBytes(32);
    hashes.add(sha256hex(d));
    await store.put(sha256hex(d), d);
  }
  await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'paged/not-a-block.txt', Body: 'x' }));
  await raw.send(new PutObjectCommand({ Bucket: bucket, Key: 'pagedx/' + [...hashes][0], Body: 'x' }));
  const listed: string[] = [];
  for await (const h of store.list()) listed.push(h);
  t.same(listed.sort(), [...hashes].sort(), '23 blocks over 4 pages, nothing else');
});

t.test('a damaged object is CORRUPT on get; a damaged range fails its piece hash', async (t) => {
  const store = await S3BlockStore.open({
    location: parseS3Url(s3.url(bucket, 'damage')),
    compression: 'none',
  });
  t.teardown(() => store.close());
  const data = randomBytes(4 * PIECE_SIZE);
  const hash = sha256hex(data);
  await store.put(hash, data);
  const key = `damage/${hash}`;
  const obj = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = Buffer.from(await obj.Body!.transformToByteArray());
  const payload = HEADER_SIZE + 32 * 4;
  bytes[payload + PIECE_SIZE + 10]! ^= 0xff; // in piece 1
  await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
  await t.rejects(store.get(hash), { code: 'CORRUPT' });
  const r = await store.getRange(hash, PIECE_SIZE, 2 * PIECE_SIZE);
  t.not(sha256hex(r!.data), r!.pieces![0], 'the range does not match the piece hash it came with');
  const ok = await store.getRange(hash, 2 * PIECE_SIZE, 3 * PIECE_SIZE);
  t.equal(sha256hex(ok!.data), ok!.pieces![0], 'an undamaged piece still does');
  await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes.subarray(0, 5) }));
  await t.rejects(store.getRange(hash, 0, 10), { code: 'CORRUPT' });
  await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  t.equal(await store.getRange(hash, 0, 10), null);
});

t.test('--blocks URLs: parsed, or one clear error', async (t) => {
  t.same(parseS3Url('s3://my-bucket?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1'), {
    bucket: 'my-bucket',
    prefix: '',
    endpoint: 'http://127.0.0.1:9000',
    region: 'eu-west-1',
  });
  t.same(parseS3Url('s3://bkt/some/where'), {
    bucket: 'bkt',
    prefix: 'some/where/',
    endpoint: undefined,
    region: 'us-east-1',
  });
  const bad: [string, RegExp][] = [
    ['/srv/blocks', /s3:\/\/BUCKET/],
    ['file:///srv', /must be s3:\/\//],
    ['s3://AKIA:secret@bkt', /no credentials in the --blocks URL/],
    ['s3://b', /not a valid bucket name/],
    ['s3://bkt?endpoint=ftp://x', /http:\/\/ or https:\/\//],
    ['s3://bkt?endpoint=http://k:s@host', /no credentials/],
    ['s3://bkt?secret=x', /unknown parameter "secret"/],
  ];
  for (const [url, message] of bad) t.throws(() => parseS3Url(url), { code: 'BAD_REQUEST', message });
});

t.test('a missing bucket or wrong credentials: one clear error at open', async (t) => {
  await t.rejects(S3BlockStore.open({ location: parseS3Url(s3.url('no-such-bucket')) }), {
    code: 'UNAVAILABLE',
    message: /no-such-bucket.*no such bucket/,
  });
  const saved = process.env.AWS_SECRET_ACCESS_KEY;
  process.env.AWS_SECRET_ACCESS_KEY = 'wrong';
  t.teardown(() => {
    process.env.AWS_SECRET_ACCESS_KEY = saved;
  });
  await t.rejects(S3BlockStore.open({ location: parseS3Url(s3.url(bucket)) }), {
    code: 'UNAVAILABLE',
    message: /access denied/,
  });
});

t.test('a server that is not there: UNAVAILABLE, not a crash', async (t) => {
  await t.rejects(
    S3BlockStore.open({
      location: parseS3Url(`s3://${bucket}?endpoint=${encodeURIComponent('http://127.0.0.1:1')}`),
    }),
    { code: 'UNAVAILABLE', message: new RegExp(bucket) },
  );
});
