import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { Outbox } from '../../../src/client/upload/outbox.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'loft-outbox-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => path.join(dir, `o${n++}.db`);
const change = (p: string, staging = `${p}.stage`) => ({
  path: p,
  nodeId: null,
  parentRev: null,
  staging,
  mtime: 1,
  mode: 0o644,
});

t.test('changes come out in order, once each', async (t) => {
  const o = new Outbox(file());
  o.enqueue(change('/a'));
  o.enqueue(change('/b'));
  t.same(o.counts(), { pending: 2, uploading: 0 });
  const a = o.next()!;
  t.match(a, { path: '/a', state: 'uploading' });
  t.same(o.counts(), { pending: 2, uploading: 1 });
  const b = o.next()!;
  t.equal(b.path, '/b');
  t.equal(o.next(), null, 'nothing else is queued');
  o.done(a.seq);
  o.retry(b.seq, 'server unreachable');
  t.match(o.list(), [{ path: '/b', state: 'queued', attempts: 1, lastError: 'server unreachable' }]);
  o.close();
});

t.test('a newer change of a queued path replaces it; an uploading one is not touched', async (t) => {
  const o = new Outbox(file());
  const s1 = o.enqueue(change('/f', 's1'));
  const s2 = o.enqueue(change('/f', 's2'));
  t.equal(s2, s1, 'coalesced');
  t.match(o.list(), [{ staging: 's2' }]);
  const up = o.next()!;
  const s3 = o.enqueue(change('/f', 's3'));
  t.not(s3, up.seq, 'a change during an upload queues behind it');
  t.same(
    o.list().map((e) => [e.staging, e.state]),
    [
      ['s2', 'uploading'],
      ['s3', 'queued'],
    ],
  );
  o.close();
});

t.test('durable: a crash (close without done) leaves the change, recover() re-queues it', async (t) => {
  const f = file();
  const o = new Outbox(f);
  o.enqueue(change('/x'));
  o.enqueue(change('/y'));
  o.next(); // "uploading" when the process dies
  o.close();
  const again = new Outbox(f);
  t.equal(again.recover(), 1);
  t.same(
    again.list().map((e) => [e.path, e.state]),
    [
      ['/x', 'queued'],
      ['/y', 'queued'],
    ],
  );
  t.equal(again.next()!.path, '/x', 'order kept across the restart');
  again.close();
});
