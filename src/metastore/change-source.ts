/**
 * A metadata store that several server processes share tells each of them about the changes the
 * others commit (PostgreSQL: LISTEN/NOTIFY, postgres/postgres-change-listener.ts). The embedded
 * SQLite store is one server's alone and has no such feed: its commits are all made in-process.
 */
import type { Timers } from '../shared/clock.js';
import type { ChangeHandlers, ChangeWatch } from './postgres/postgres-change-listener.js';

export type { ChangeHandlers, ChangeWatch };

export interface ChangeSource {
  watchChanges(handlers: ChangeHandlers, timers?: Timers): Promise<ChangeWatch>;
}

export function isChangeSource(store: object): store is ChangeSource {
  return typeof (store as Partial<ChangeSource>).watchChanges === 'function';
}
