/**
 * What several servers share through the run's real PostgreSQL (issue 15, item 2): two stores on
 * one database stand for two servers.
 *
 * Wake-ups: a commit through one wakes a long-poll waiting in the other's JournalHub
 * (NOTIFY from the committing transaction, LISTEN on a dedicated connection). Another installation
 * (another schema) has its own channel. A listener whose connection is terminated reconnects and
 * wakes every waiting poll once (notifications of the outage are lost); commits after it wake
 * polls again. No timing assertion: every wait is for an event.
 *
 * Throttles: failed sign-ins and wrong link passwords counted on either server hold both (a
 * guesser behind a round-robin balancer gets the delays of one server, not N times the guesses).
 */
import t from 'tap';
import pg from 'pg';
import type { Actor } from '../../src/metastore/metadata-store.js';
import { PostgresMetadataStore } from '../../src/metastore/postgres/postgres-metadata-store.js';
import { crossServerWakeups } from '../../src/server/cross-server-wakeups.js';
import { JournalHub } from '../../src/server/journal-hub.js';
import { FREE_ATTEMPTS, PasswordThrottle } from '../../src/server/link-secrets.js';
import { LoginThrottle } from '../../src/server/web/login-throttle.js';
import { testDatabase } from '../helpers/postgres.js';

const db = await testDatabase();
process.env.PGPASSWORD = db.env.PGPASSWORD;
const open = (schema: string) => PostgresMetadataStore.open({ url: db.url, schema, poolSize: 2 });
const NEVER = 3_600_000;

const a = await open('inst');
const b = await open('inst');
const other = await open('other');
t.teardown(async () => {
  for (const s of [a, b, other]) await s.close();
});

/** Resolves with true when the poll is woken, recorded in `state`. */
function poll(hub: JournalHub, ns: number, after: number) {
  const state = { woken: false };
  const done = hub.wait(ns, after, async () => false, { timeoutMs: NEVER }).then(() => (state.woken = true));
  return { state, done };
}

let dirs = 0;
async function mkdir(store: PostgresMetadataStore, actor: Actor, ns: number): Promise<void> {
  await store.mkdir(actor, { ns, path: `/d${dirs++}`, mtime: 1, mode: 0o755, parents: false });
}

t.test("a commit through one server wakes the other's long-poll of that namespace only", async (t) => {
  const hub = new JournalHub();
  const watch = await crossServerWakeups(b, hub);
  t.ok(watch, 'PostgreSQL is a change source');
  t.teardown(async () => {
    hub.close();
    await watch?.close();
  });
  const alice = await a.createUser('alice', 1);
  const bob = await a.createUser('bob', 1);
  const actor = { userId: alice.id, deviceId: 0, now: 1 };
  const pAlice = poll(hub, alice.homeNs, await b.headSeq(alice.homeNs));
  const pBob = poll(hub, bob.homeNs, await b.headSeq(bob.homeNs));
  await mkdir(a, actor, alice.homeNs);
  await pAlice.done;
  t.ok(pAlice.state.woken, "alice's poll on the other server woke");
  t.notOk(pBob.state.woken, "bob's poll still waits (nothing changed in his namespace)");
  // A poll already up to date stays waiting when a notification arrives for its namespace.
  const upToDate = poll(hub, alice.homeNs, await b.headSeq(alice.homeNs));
  const bobActor = { userId: bob.id, deviceId: 0, now: 1 };
  await mkdir(a, bobActor, bob.homeNs);
  await pBob.done;
  t.notOk(upToDate.state.woken, 'a poll already at the head is not woken by another namespace');
  await mkdir(a, actor, alice.homeNs);
  await upToDate.done;
  t.ok(upToDate.state.woken);
});

t.test("a share, a removal and a move in one's tree wake that user's long-polls on the other server", async (t) => {
  const hub = new JournalHub();
  const watch = await crossServerWakeups(b, hub);
  t.teardown(async () => {
    hub.close();
    await watch?.close();
  });
  const owner = await a.createUser('olive', 1);
  const member = await a.createUser('mick', 1);
  const bystander = await a.createUser('nell', 1);
  const actor = { userId: owner.id, deviceId: 0, now: 1 };
  await a.mkdir(actor, { ns: owner.homeNs, path: '/team', mtime: 1, mode: 0o755, parents: false });
  // Polls at the head: only a notification of mounts wakes them (no head moves in mick's home).
  const atHead = async (ns: number) => poll(hub, ns, await b.headSeq(ns));
  const other = await atHead(bystander.homeNs);
  let p = await atHead(member.homeNs);
  const share = await a.shareFolder(actor, owner.homeNs, { path: '/team', withUser: 'mick', role: 'write' });
  await p.done;
  t.ok(p.state.woken, "joining wakes mick's poll on the other server");
  p = await atHead(member.homeNs);
  const moved = await a.moveMount({ userId: member.id, deviceId: 0, now: 1 }, member.homeNs, share.ns, {
    path: '/elsewhere',
  });
  t.equal(moved.path, '/elsewhere');
  await p.done;
  t.ok(p.state.woken, 'a move in his tree wakes it');
  p = await atHead(member.homeNs);
  await a.unshareFolder(actor, owner.homeNs, '/team', 'mick');
  await p.done;
  t.ok(p.state.woken, 'removal wakes it');
  t.notOk(other.state.woken, "another user's poll still waits");
});

t.test('each installation (schema) has its own channel', async (t) => {
  const seen: string[] = [];
  const waiters = new Map<string, () => void>();
  const record = (who: string) => ({
    changed: (ns: number) => {
      seen.push(`${who}:${ns}`);
      waiters.get(who)?.();
    },
    reset: () => {},
  });
  const inInst = await b.watchChanges(record('inst'));
  const inOther = await other.watchChanges(record('other'));
  t.teardown(async () => {
    await inInst.close();
    await inOther.close();
  });
  t.not(inInst.channel, inOther.channel);
  const o = await other.createUser('olga', 1);
  const i = await a.createUser('ivan', 1);
  const heard = (who: string) => new Promise<void>((resolve) => waiters.set(who, resolve));
  const otherHeard = heard('other');
  const instHeard = heard('inst');
  // Commit order: other first, then inst. Notifications reach a listener in commit order, so when
  // inst's listener hears its own commit it would already have heard other's, were they shared.
  await mkdir(other, { userId: o.id, deviceId: 0, now: 1 }, o.homeNs);
  await mkdir(a, { userId: i.id, deviceId: 0, now: 1 }, i.homeNs);
  await Promise.all([otherHeard, instHeard]);
  t.same(
    seen.filter((s) => s.startsWith('inst:')),
    [`inst:${i.homeNs}`],
    "inst's listener heard its commit only",
  );
  t.same(
    seen.filter((s) => s.startsWith('other:')),
    [`other:${o.homeNs}`],
    "other's listener heard its commit only",
  );
});

t.test('a lost listener connection reconnects, wakes every poll once, and hears commits again', async (t) => {
  const hub = new JournalHub();
  const watch = (await crossServerWakeups(b, hub))!;
  t.teardown(async () => {
    hub.close();
    await watch.close();
  });
  const u = await a.createUser('rita', 1);
  const actor = { userId: u.id, deviceId: 0, now: 1 };
  // Nothing is committed: only the reconnect's reset can wake this poll.
  const p = poll(hub, u.homeNs, await b.headSeq(u.homeNs));
  const pid = watch.backendPid;
  t.ok(pid, 'the listening backend');
  const admin = new pg.Client({ connectionString: db.url, password: db.env.PGPASSWORD });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    t.ok(rows[0]!.ok, 'listener backend terminated');
  } finally {
    await admin.end();
  }
  await p.done;
  t.ok(p.state.woken, 'the poll was woken by the reconnect');
  t.equal(watch.reconnects, 1, 'one reconnect');
  t.not(watch.backendPid, pid, 'on a new connection');
  const again = poll(hub, u.homeNs, await b.headSeq(u.homeNs));
  await mkdir(a, actor, u.homeNs);
  await again.done;
  t.ok(again.state.woken, 'a commit after the reconnect wakes the poll');
});

t.test('failure throttles are shared by the servers of an installation', async (t) => {
  let now = 5_000_000;
  const clock = { now: () => now };
  const [l1, l2] = [
    new LoginThrottle(clock, a.sharedThrottles()),
    new LoginThrottle(clock, b.sharedThrottles()),
  ];
  const keys = ['user:mallory-target', 'ip:192.0.2.7'];
  // Five failures in a row, alternating servers (as a round-robin balancer would send them).
  for (let i = 0; i < 5; i++) {
    const l = i % 2 ? l2 : l1;
    await l.check(keys);
    await l.failed(keys);
  }
  await t.rejects(l1.check(keys), { code: 'TOO_MANY_REQUESTS', details: { retryAfter: 1 } }, 'held on 1');
  await t.rejects(l2.check(keys), { code: 'TOO_MANY_REQUESTS', details: { retryAfter: 1 } }, 'held on 2');
  await t.rejects(l2.check(['ip:192.0.2.7']), { code: 'TOO_MANY_REQUESTS' }, 'the address alone too');
  const elsewhere = new LoginThrottle(clock, other.sharedThrottles());
  await elsewhere.check(keys); // another installation: its own counts
  now += 1000;
  await l2.check(keys);
  await l2.failed(keys); // sixth: 2 s, seen by server 1
  await t.rejects(l1.check(keys), { code: 'TOO_MANY_REQUESTS', details: { retryAfter: 2 } });
  now += 2000;
  await l1.succeeded(keys);
  await l2.check(keys);

  const [p1, p2] = [
    new PasswordThrottle(clock, a.sharedThrottles()),
    new PasswordThrottle(clock, b.sharedThrottles()),
  ];
  for (let i = 0; i <= FREE_ATTEMPTS; i++) await (i % 2 ? p2 : p1).failed(42);
  t.ok((await p1.waitMs(42)) > 0, 'a link locked by wrong passwords on both servers, seen by 1');
  t.equal(await p1.waitMs(42), await p2.waitMs(42), 'and by 2, the same');
  t.equal(await p2.waitMs(43), 0, 'another link is not locked');
  await p2.succeeded(42);
  t.equal(await p1.waitMs(42), 0, 'a right password on 2 unlocks on 1');
});
