/**
 * Long-poll wake-ups across servers (issue 15, item 2). A commit wakes the long-polls of the server
 * that made it in-process (http/app.ts, `changed`); on a metadata store that several servers share
 * (a ChangeSource: PostgreSQL), the store also tells every server about every commit, and each
 * wakes its own long-polls of that namespace here. The embedded SQLite store has no feed: it is
 * one server's alone.
 *
 * A notification carries only the namespace: the head is read once per notification, and only when
 * a poll waits on that namespace here, so that the polls already up to date keep waiting. A change
 * of a user's mounts (shared folders) carries their home namespace and wakes its polls outright.
 */
import { isChangeSource, type ChangeWatch } from '../metastore/change-source.js';
import type { MetadataStore } from '../metastore/metadata-store.js';
import type { Timers } from '../shared/clock.js';
import type { JournalHub } from './journal-hub.js';

export type WakeupLog = (level: 'warn' | 'info', msg: string, fields?: Record<string, unknown>) => void;

/** Starts the feed when the store has one (null otherwise); the caller closes it before the store. */
export async function crossServerWakeups(
  meta: MetadataStore,
  hub: JournalHub,
  options: { log?: WakeupLog; timers?: Timers } = {},
): Promise<ChangeWatch | null> {
  if (!isChangeSource(meta)) return null;
  const log = options.log;
  return meta.watchChanges(
    {
      changed(ns) {
        if (!hub.waitingOn(ns)) return;
        meta.headSeq(ns).then(
          (head) => hub.notify(ns, head),
          // The head could not be read: wake them all, each re-reads (and fails, or answers).
          () => hub.notify(ns, Number.MAX_SAFE_INTEGER),
        );
      },
      mountsChanged(home) {
        // The home's head did not move: its waiters answer again (their next page carries the
        // folder's snapshot, tombstone or new place), as share-routes.ts does in-process.
        if (hub.waitingOn(home)) hub.notify(home, Number.MAX_SAFE_INTEGER);
      },
      reset() {
        hub.wakeAll();
      },
      ...(log ? { log } : {}),
    },
    options.timers,
  );
}
