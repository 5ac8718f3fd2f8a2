/** BlockStore in memory: for unit tests of logic and as the reference in the contract suite. */
import { LoftError } from '../shared/errors.js';
import { assertHash, verifyBlock } from '../shared/hash.js';
import { MAX_BLOCK_SIZE } from '../shared/protocol.js';
export class MemoryBlockStore {
    #blocks = new Map();
    #maxBlockSize;
    constructor(options = {}) {
        this.#maxBlockSize = options.maxBlockSize ?? MAX_BLOCK_SIZE;
    }
    async put(hash, data) {
        assertHash(hash);
        if (data.byteLength > this.#maxBlockSize) {
            throw new LoftError('TOO_LARGE', `block is ${data.byteLength} bytes; the limit is ${this.#maxBlockSize}`);
        }
        verifyBlock(hash, data);
        if (this.#blocks.has(hash))
            return { created: false, storedSize: 0 };
        this.#blocks.set(hash, Buffer.from(data));
        return { created: true, storedSize: data.byteLength };
    }
    async get(hash) {
        assertHash(hash);
        const b = this.#blocks.get(hash);
        return b ? Buffer.from(b) : null;
    }
    async has(hash) {
        assertHash(hash);
        return this.#blocks.has(hash);
    }
    async delete(hash) {
        assertHash(hash);
        this.#blocks.delete(hash);
    }
    async *list() {
        yield* [...this.#blocks.keys()];
    }
    async close() { }
}
//# sourceMappingURL=memory-block-store.js.map