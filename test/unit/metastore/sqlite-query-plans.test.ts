/**
 * Every statement of the SQLite store is planned without a full scan of a table that grows with
 * the data (issue 18: `revTimes` was planned on the primary key (ns_id, seq) and walked every
 * revision of the namespace for each node, so one GC pass cost nodes × revisions).
 *
 * Checked twice: on a fresh database (no statistics: the planner's heuristics) and after ANALYZE
 * over a namespace shaped like the one that failed (one namespace, many revisions per node), since
 * statistics change plans.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { SqliteMetadataStore } from '../../../src/metastore/sqlite/sqlite-metadata-store.js';

/** Tables whose size grows with users' data: never scanned whole. */
const LARGE = ['nodes', 'revisions', 'content_blocks', 'blocks', 'user_blocks', 'devices', 'users'];

/** Statements allowed a scan, and why. */
const ALLOWED_SCANS: Record<string, string> = {
  // gc_claims holds only blocks being deleted right now (a batch or two): small by construction.
  staleClaims: 'gc_claims',
  // Name search for 1-2 characters held by many trigrams, so common that the scan stops early
  // at the limit (sqlite-meta-tx.ts searchNames).
  searchNamesShort: 'nodes',
  // The first 20,000 nodes only (LIMIT in the subquery), for common 1-2 character queries.
  searchNamesProbe: 'nodes',
};

/** The index each history query must use (the ones that regressed, pinned by name). */
const EXPECTED_INDEX: Record<string, RegExp> = {
  revTimes: /SEARCH revisions USING (COVERING )?INDEX revisions_node \(node_id=\? AND ns_id=\?\)/,
  revisionsOf: /SEARCH r USING INDEX revisions_node \(node_id=\? AND ns_id=\?\)/,
  prevRev: /SEARCH revisions USING (COVERING )?INDEX revisions_node \(node_id=\? AND ns_id=\? AND seq<\?\)/,
  oldTombstones: /SEARCH nodes USING INDEX nodes_tombstones \(deleted_at<\?\)/,
  supersededRevs:
    /SEARCH revisions USING INDEX revisions_superseded \(superseded_at>\? AND superseded_at<\?\)/,
  supersede: /SEARCH revisions USING (COVERING )?INDEX revisions_node \(node_id=\? AND ns_id=\? AND seq<\?\)/,
  treePage: /SEARCH n USING INDEX nodes_ns_live \(ns_id=\? AND id>\?\)/,
  // After ANALYZE the planner preferred nodes_parent (parent_id>?): every node walked.
  searchShortNames: /SEARCH n USING INDEX nodes_short_names \(ns_id=\?\)/,
};

function checkPlans(t: Test, store: SqliteMetadataStore, when: string): void {
  const plans = store.queryPlans();
  t.ok(plans.length > 30, `${when}: the store's statements are all listed (${plans.length})`);
  for (const { name, sql, plan } of plans) {
    const scans = plan.filter((d) => {
      const m = /^SCAN (\w+)/.exec(d);
      if (m && LARGE.includes(m[1]!) && ALLOWED_SCANS[name] !== m[1]) return true;
      // A search on (ns_id) alone walks a whole namespace: the bug of issue 18 looked like this.
      return /^SEARCH (revisions|content_blocks|r|cb) USING .*\(ns_id=\?\)$/.test(
        d.replace(/ LEFT-JOIN$/, ''),
      );
    });
    t.same(
      scans,
      [],
      `${when}: ${name} scans no large table (${sql.replace(/\s+/g, ' ')} → ${plan.join('; ')})`,
    );
    const want = EXPECTED_INDEX[name];
    if (want)
      t.ok(
        plan.some((d) => want.test(d)),
        `${when}: ${name} uses ${want} (got ${plan.join('; ')})`,
      );
  }
  for (const name of Object.keys(EXPECTED_INDEX)) {
    t.ok(
      plans.some((p) => p.name === name),
      `${when}: ${name} is still a statement`,
    );
  }
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

t.test('no statement scans a large table, fresh or after ANALYZE at size', async (t) => {
  const store = new SqliteMetadataStore({ filename: ':memory:' });
  t.teardown(() => store.close());
  checkPlans(t, store, 'fresh');

  // One namespace, 300 files × 5 revisions and some deletes, like the namespace of the issue.
  const u = await store.createUser('alice', 1);
  const actor = (now: number) => ({ userId: u.id, deviceId: 0, now });
  const h = hash('x');
  await store.recordUpload(u.id, h, 1, 1, 1);
  const blocks = [{ hash: h, size: 1 }];
  let now = 10;
  for (let i = 0; i < 300; i++) {
    let rev: number | null = null;
    for (let r = 0; r < 5; r++) {
      const made = await store.commitFile(actor(now++), {
        ns: u.homeNs,
        node: { path: `/d${i % 10}/f${i}` },
        parentRev: rev,
        blocks,
        size: 1,
        mtime: now,
        mode: 0o644,
      });
      rev = made.rev;
      if (r === 4 && i % 3 === 0) {
        await store.remove(actor(now++), {
          ns: u.homeNs,
          node: { id: made.id },
          parentRev: rev,
          recursive: false,
        });
      }
    }
  }
  store.analyze();
  checkPlans(t, store, 'after ANALYZE');
});
