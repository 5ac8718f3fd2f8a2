/**
 * Hydrator.warmUp: before the first read, one ranged GET of a block nobody has (a 404) opens the
 * connection that read will use and runs its code once; nothing is downloaded or counted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { DiskBlockCache } from '../../../src/client/cache/disk-block-cache.js';
import { Hydrator, newReadState } from '../../../src/client/hydrate/hydrator.js';
import { RemoteClient } from '../../../src/client/remote/remote-client.js';
import { PIECE_SIZE, pieceHashes } from '../../../src/shared/hash.js';
import { PIECE_HASHES_HEADER } from '../../../src/shared/protocol.js';
import { block, RangedFakeSource, SimpleConnectivity, tmpDirs } from './fake-block-source.js';

const tmp = tmpDirs(t, 'loft-hydrate-warm-');
const MiB = 1024 * 1024;

function hydrator(t: Test, source: ConstructorParameters<typeof Hydrator>[0]['source']) {
  const cache = new DiskBlockCache({ dir: tmp(), capBytes: 64 * MiB });
  const logs: string[] = [];
  const h = new Hydrator({
    source,
    cache,
    connectivity: new SimpleConnectivity(true),
    log: (m) => logs.push(m),
  });
  t.teardown(async () => {
    h.close();
    await cache.close();
  });
  return { h, logs };
}

t.test('asks for one piece of a block no content has; downloads and counts nothing', async (t) => {
  const source = new RangedFakeSource();
  const { h, logs } = hydrator(t, source);
  await h.warmUp();
  t.same(source.rangeCalls, [`${'0'.repeat(64)}:0-${PIECE_SIZE}`]);
  t.equal(h.downloadedBytes, 0);
  t.same(h.served, { memory: 0, disk: 0, inFlight: 0, fetched: 0, ranged: 0 });
  t.same(logs, [], 'the 404 is expected: not logged');
});

t.test('the first read after it goes over the connection it opened', async (t) => {
  const b = block(MiB);
  const requests: string[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    requests.push(`${req.url} ${req.headers.range}`);
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (req.url !== `/v1/blocks/${b.hash}` || !m) {
      res.writeHead(404, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no such block' } }));
    }
    const [start, end] = [Number(m[1]), Number(m[2]) + 1];
    res.writeHead(206, {
      'content-type': 'application/octet-stream',
      'content-range': `bytes ${start}-${end - 1}/${b.data.length}`,
      [PIECE_HASHES_HEADER]: pieceHashes(b.data, start, end)!.join(','),
    });
    res.end(b.data.subarray(start, end));
  });
  server.on('connection', () => connections++);
  // Node's server closes an idle connection after 5 s: a stalled machine must not make this test
  // about a clock.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const remote = new RemoteClient({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: 't',
  });
  t.teardown(async () => {
    await remote.close();
    await new Promise((r) => server.close(r));
  });
  const { h } = hydrator(t, remote);
  await h.warmUp();
  t.equal(connections, 1, 'a connection is open before any read');
  const out = Buffer.alloc(4096);
  const at = 300 * 1024;
  const extents = [{ hash: b.hash, offset: 0, size: b.data.length }];
  t.equal(await h.read(extents, b.data.length, at, out, newReadState()), 4096);
  t.ok(out.equals(b.data.subarray(at, at + 4096)), 'the right bytes, verified');
  t.equal(connections, 1, 'the read used it: no new connection');
  t.same(requests, [
    `/v1/blocks/${'0'.repeat(64)} bytes=0-${PIECE_SIZE - 1}`,
    `/v1/blocks/${b.hash} bytes=${4 * PIECE_SIZE}-${5 * PIECE_SIZE - 1}`,
  ]);
  t.equal(h.downloadedBytes, PIECE_SIZE, 'only the piece was downloaded');
});
