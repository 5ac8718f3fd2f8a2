import t from 'tap';
import { MemoryBlockStore } from '../../../src/blockstore/memory-block-store.js';
import { blockStoreContract } from '../../contract/block-store-contract.js';
const MAX = 2 * 1024 * 1024;
blockStoreContract(t, 'MemoryBlockStore', async () => new MemoryBlockStore({ maxBlockSize: MAX }), MAX);
//# sourceMappingURL=memory-block-store.test.js.map