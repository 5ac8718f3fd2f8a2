/**
 * What every part of the MetadataStore contract shares: a fresh store per test with two users,
 * alice and bob, each with a device, and helpers that upload and commit, or delete, at a time.
 */
import type { Actor, MetadataStore } from '../../../src/metastore/metadata-store.js';
import { sha256hex } from '../../../src/shared/hash.js';
import type { BlockRef } from '../../../src/shared/protocol.js';

export const NOW = 1_700_000_000_000;

export function block(text: string): BlockRef {
  return { hash: sha256hex(Buffer.from(text)), size: Buffer.byteLength(text) };
}

export interface Who {
  userId: number;
  ns: number;
  actor: Actor;
  rootId: number;
}

/** The store and users of the test under way (set up anew before each test). */
export class MetaContext {
  store!: MetadataStore;
  alice!: Who;
  bob!: Who;

  user = async (name: string): Promise<Who> => {
    const u = await this.store.createUser(name, NOW);
    const deviceId = await this.store.addDevice(
      u.id,
      `${name}-laptop`,
      sha256hex(Buffer.from(name)),
      null,
      NOW,
    );
    const root = await this.store.getNode(u.homeNs, { path: '/' });
    return { userId: u.id, ns: u.homeNs, actor: { userId: u.id, deviceId, now: NOW }, rootId: root!.id };
  };

  /** Uploads (records possession of) blocks for `who` and commits them at `path`. */
  write = (who: Who, path: string, texts: string[], parentRev: number | null = null) =>
    this.writeAt(who, path, texts, parentRev, NOW);

  /** Like `write`, at time `at` (retention and collection tests move time forward). */
  writeAt = async (who: Who, path: string, texts: string[], parentRev: number | null, at: number) => {
    const blocks = texts.map(block);
    for (const b of blocks) await this.store.recordUpload(who.userId, b.hash, b.size, b.size, at);
    return this.store.commitFile(
      { ...who.actor, now: at },
      {
        ns: who.ns,
        node: { path },
        parentRev,
        blocks,
        size: blocks.reduce((n, b) => n + b.size, 0),
        mtime: at,
        mode: 0o644,
      },
    );
  };

  del = async (who: Who, id: number, at = NOW) => {
    const node = await this.store.getNode(who.ns, { id });
    return this.store.remove(
      { ...who.actor, now: at },
      {
        ns: who.ns,
        node: { id },
        parentRev: node!.rev,
        recursive: true,
      },
    );
  };
}
