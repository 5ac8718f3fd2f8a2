/**
 * RemoteClient's block downloads (undici's dispatch API): the bytes, the server's errors, and a
 * network failure or an abort as what callers expect (UNAVAILABLE: offline, retried).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { RemoteClient } from '../../../src/client/remote/remote-client.js';
import { isLoftError } from '../../../src/shared/errors.js';

const HASH = 'ab'.repeat(32);
const BYTES = Buffer.alloc(300_000, 7); // several chunks on the wire

async function serve(t: Test, handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const remote = new RemoteClient({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token: 'secret-token',
    timeoutMs: 2000,
  });
  t.teardown(async () => {
    await remote.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return remote;
}

t.test('a whole block: its bytes, with the token sent as a header', async (t) => {
  let auth: string | undefined;
  const remote = await serve(t, (req, res) => {
    auth = req.headers.authorization;
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(BYTES);
  });
  t.ok((await remote.getBlock(HASH)).equals(BYTES));
  t.equal(auth, 'Bearer secret-token');
});

t.test("the server's error: its code", async (t) => {
  const remote = await serve(t, (_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'no block' } }));
  });
  await t.rejects(remote.getBlock(HASH), { code: 'NOT_FOUND' });
  await t.rejects(remote.getBlockRange(HASH, 0, 10), { code: 'NOT_FOUND' });
});

t.test('an answer that breaks off, or no server: UNAVAILABLE', async (t) => {
  const remote = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(BYTES.length) });
    res.write(BYTES.subarray(0, 1000), () => res.socket?.destroy());
  });
  const err = await remote.getBlock(HASH).catch((e: unknown) => e);
  t.ok(isLoftError(err, 'UNAVAILABLE'), String(err));
  const gone = new RemoteClient({ url: 'http://127.0.0.1:9', token: 'x' });
  t.teardown(() => gone.close());
  const err2 = await gone.getBlockRange(HASH, 0, 10).catch((e: unknown) => e);
  t.ok(isLoftError(err2, 'UNAVAILABLE'), String(err2));
});

t.test('an abort ends the download with the abort, not as offline', async (t) => {
  const remote = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(BYTES.length) });
    res.write(BYTES.subarray(0, 1000)); // and never the rest
  });
  const ac = new AbortController();
  const pending = remote.getBlock(HASH, ac.signal).catch((e: unknown) => e);
  setTimeout(() => ac.abort(new Error('closing')), 50);
  const err = await pending;
  t.notOk(isLoftError(err, 'UNAVAILABLE'), 'not taken for a network failure');
  t.match(String(err), /closing/);
  const already = await remote
    .getBlock(HASH, AbortSignal.abort(new Error('before')))
    .catch((e: unknown) => e);
  t.match(String(already), /before/);
});
