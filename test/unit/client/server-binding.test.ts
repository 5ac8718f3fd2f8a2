/**
 * bindServer (src/client/server-binding.ts): which server a state dir follows. A real Mirror in a
 * temp dir and a scripted `whoami`; the moves and refusals a real mount makes are in
 * test/integration/migrate-move.test.ts.
 */
import path from 'node:path';
import t from 'tap';
import { Mirror } from '../../../src/client/mirror/mirror.js';
import type { RemoteClient, WhoAmI } from '../../../src/client/remote/remote-client.js';
import { bindServer } from '../../../src/client/server-binding.js';
import { LoftError } from '../../../src/shared/errors.js';
import { createLogger } from '../../../src/shared/log.js';
import { tmpDirs } from './fake-block-source.js';

const tmp = tmpDirs(t, 'loft-binding-');
const ALICE: WhoAmI = { user: 'alice', device: 'laptop', ns: 1, rootId: 1, installation: 'a'.repeat(32) };

/** A remote at `url` whose whoami answers `me` (or fails with `me` when it is an Error). */
function remote(url: string, me: WhoAmI | Error): RemoteClient & { asked: number } {
  const r = {
    url,
    asked: 0,
    whoami: async () => {
      r.asked++;
      if (me instanceof Error) throw me;
      return me;
    },
  };
  return r as unknown as RemoteClient & { asked: number };
}

function logger(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const log = { warn: (_o: object, msg: string) => lines.push(msg) } as unknown as ReturnType<
    typeof createLogger
  >;
  return { log, lines };
}

t.test('made against one server; the same installation at a new URL is followed once', async (t) => {
  const dir = tmp();
  const mirror = new Mirror(path.join(dir, 'mirror.db'));
  t.teardown(() => mirror.close());
  const { log, lines } = logger();
  await bindServer(mirror, remote('http://old:1', ALICE), dir, log);
  t.equal(mirror.installation, ALICE.installation, 'recorded at the first sync');
  t.equal(mirror.identity()?.server, 'http://old:1');

  const moved = await bindServer(mirror, remote('http://new:2', ALICE), dir, log);
  t.equal(moved.server, 'http://new:2');
  t.equal(mirror.identity()?.server, 'http://new:2', 'the new URL is recorded');
  t.same(lines, ['server moved: http://old:1 → http://new:2 (same installation); cursor and mirror kept']);
  const same = remote('http://new:2', ALICE);
  await bindServer(mirror, same, dir, log);
  t.equal(same.asked, 0, 'its own URL again: nothing to check');
  t.equal(lines.length, 1, 'and nothing logged');
});

t.test('refused, the state dir untouched: another installation, user, no answer, no id', async (t) => {
  const dir = tmp();
  const mirror = new Mirror(path.join(dir, 'mirror.db'));
  t.teardown(() => mirror.close());
  const { log, lines } = logger();
  await bindServer(mirror, remote('http://old:1', ALICE), dir, log);
  const refusals: [WhoAmI | Error, RegExp][] = [
    [{ ...ALICE, installation: 'b'.repeat(32) }, /is another installation \(b{32}\); use another --state$/],
    [{ ...ALICE, installation: undefined }, /a server that reports no installation id/],
    [{ ...ALICE, user: 'bob', ns: 2, rootId: 2 }, /the token is bob's/],
    [
      new LoftError('UNAVAILABLE', 'connect ECONNREFUSED'),
      /cannot check that http:\/\/new:2 serves the same installation: connect ECONNREFUSED/,
    ],
  ];
  for (const [me, why] of refusals) {
    const err = await bindServer(mirror, remote('http://new:2', me), dir, log).then(
      () => null,
      (e: unknown) => e as LoftError,
    );
    t.match(err?.message, why);
    t.notMatch(err?.message, /\n/, 'one line');
    t.equal(mirror.identity()?.server, 'http://old:1', 'still bound to the old server');
  }
  t.same(lines, []);

  // A state dir from before installation ids: it cannot move until it learnt its id.
  const older = tmp();
  const m2 = new Mirror(path.join(older, 'mirror.db'));
  t.teardown(() => m2.close());
  await bindServer(m2, remote('http://old:1', { ...ALICE, installation: undefined }), older, log);
  t.equal(m2.installation, null);
  await t.rejects(bindServer(m2, remote('http://new:2', ALICE), older, log), {
    message: /does not know its installation id yet \(mount it once against http:\/\/old:1/,
  });
  await bindServer(m2, remote('http://old:1', ALICE), older, log);
  await new Promise((r) => setImmediate(r));
  t.equal(m2.installation, ALICE.installation, 'learnt at a mount against its own server');
  await bindServer(m2, remote('http://new:2', ALICE), older, log);
  t.equal(m2.identity()?.server, 'http://new:2', 'then it can move');
});
