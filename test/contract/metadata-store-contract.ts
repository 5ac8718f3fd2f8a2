/**
 * The MetadataStore contract: every implementation (SQLite, PostgreSQL) runs this suite.
 * `factory` returns a fresh, empty store; the suite closes it. One part per role of the interface
 * (test/contract/metadata-store/), all on the same fixture: a new store with users alice and bob
 * before each test.
 */
import type { Test } from 'tap';
import type { MetadataStore } from '../../src/metastore/metadata-store.js';
import { accountsContract } from './metadata-store/accounts.js';
import { batchContract } from './metadata-store/batch.js';
import { blockLedgerContract } from './metadata-store/block-ledger.js';
import { foldersContract } from './metadata-store/folders.js';
import { MetaContext } from './metadata-store/fixture.js';
import { restoreContract } from './metadata-store/restore.js';
import { retentionContract } from './metadata-store/retention.js';
import { sharingContract } from './metadata-store/sharing.js';
import { searchContract } from './metadata-store/search.js';
import { contentSearchContract } from './metadata-store/content-search.js';
import { treeChangesContract } from './metadata-store/tree-changes.js';
import { treeReadsContract } from './metadata-store/tree-reads.js';

export type MetadataStoreFactory = () => Promise<MetadataStore>;

export function metadataStoreContract(t: Test, name: string, factory: MetadataStoreFactory): void {
  t.test(`${name}: MetadataStore contract`, async (t) => {
    const c = new MetaContext();
    t.beforeEach(async () => {
      c.store = await factory();
      c.alice = await c.user('alice');
      c.bob = await c.user('bob');
    });
    t.afterEach(async () => {
      await c.store.close();
    });
    accountsContract(t, c);
    blockLedgerContract(t, c);
    treeChangesContract(t, c);
    batchContract(t, c);
    treeReadsContract(t, c);
    restoreContract(t, c);
    retentionContract(t, c);
    sharingContract(t, c);
    searchContract(t, c);
    contentSearchContract(t, c);
    foldersContract(t, c);
  });
}
