/**
 * What every route module of the HTTP API shares: the stores, the journal hub, the clock, and the
 * three steps of a handler that changes the tree (check the caller's role in the namespace, say who
 * acts, wake the long-polls of the namespace once the change is committed).
 */
import type { FastifyRequest } from 'fastify';
import type { BlockStore } from '../../blockstore/block-store.js';
import type { Actor, MetadataStore } from '../../metastore/metadata-store.js';
import type { Clock } from '../../shared/clock.js';
import type { JournalHub } from '../journal-hub.js';
import type { QuotaGate } from './quota.js';

export interface RouteContext {
  meta: MetadataStore;
  blocks: BlockStore;
  hub: JournalHub;
  clock: Clock;
  /** Admits commits under their namespace owner's quota (quota.ts). */
  quota: QuotaGate;
  /** The namespace a request names (default: the caller's own), after checking the caller's role. */
  namespace(
    request: FastifyRequest,
    ns: number | string | undefined,
    need: 'read' | 'write',
  ): Promise<number>;
  actor(request: FastifyRequest): Actor;
  /** Wakes the namespace's long-polls (after the change committed). */
  changed(ns: number): Promise<void>;
}
