/** BlockStore in memory: for unit tests of logic and as the reference in the contract suite. */
import { assertHash } from '../shared/hash.js';
import { MAX_BLOCK_SIZE } from '../shared/protocol.js';
import { rangeOf, type BlockRange, type BlockStore, type PutResult, checkBlock } from './block-store.js';

export class MemoryBlockStore implements BlockStore {
  readonly #blocks = new Map<string, Buffer>();
  readonly #maxBlockSize: number;

  constructor(options: { maxBlockSize?: number } = {}) {
    this.#maxBlockSize = options.maxBlockSize ?? MAX_BLOCK_SIZE;
  }

  async put(hash: string, data: Uint8Array): Promise<PutResult> {
    checkBlock(hash, data, this.#maxBlockSize);
    if (this.#blocks.has(hash)) return { created: false, storedSize: 0 };
    this.#blocks.set(hash, Buffer.from(data));
    return { created: true, storedSize: data.byteLength };
  }

  async get(hash: string): Promise<Buffer | null> {
    assertHash(hash);
    const b = this.#blocks.get(hash);
    return b ? Buffer.from(b) : null;
  }

  async getRange(hash: string, start: number, end: number): Promise<BlockRange | null> {
    assertHash(hash);
    const b = this.#blocks.get(hash);
    return b ? rangeOf(Buffer.from(b), start, end) : null;
  }

  async has(hash: string): Promise<boolean> {
    assertHash(hash);
    return this.#blocks.has(hash);
  }

  async delete(hash: string): Promise<void> {
    assertHash(hash);
    this.#blocks.delete(hash);
  }

  async makeDurable(hashes: readonly string[]): Promise<string[]> {
    for (const h of hashes) assertHash(h);
    return [...new Set(hashes)].filter((h) => !this.#blocks.has(h));
  }

  async *list(): AsyncIterable<string> {
    yield* [...this.#blocks.keys()];
  }

  async close(): Promise<void> {}
}
