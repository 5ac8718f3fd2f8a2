/**
 * MeteredBlockStore: a BlockStore that tells a meter how many block bytes went in and out (for the
 * server's /metrics), and otherwise passes every call through unchanged.
 */
import type { BlockBody } from './block-body.js';
import { putBody, type BlockRange, type BlockStore, type PutResult } from './block-store.js';

export interface BlockMeter {
  /** A put of `n` bytes; `storedSize` newly written (0 when the block was there). */
  bytesIn(n: number, storedSize: number): void;
  /** `n` bytes read out (a whole block or a range). */
  bytesOut(n: number): void;
}

export class MeteredBlockStore implements BlockStore {
  constructor(
    readonly inner: BlockStore,
    readonly meter: BlockMeter,
  ) {}

  async put(hash: string, data: Uint8Array): Promise<PutResult> {
    const r = await this.inner.put(hash, data);
    this.meter.bytesIn(data.byteLength, r.storedSize);
    return r;
  }

  async putBody(hash: string, body: BlockBody): Promise<PutResult> {
    const r = await putBody(this.inner, hash, body);
    this.meter.bytesIn(body.size, r.storedSize);
    return r;
  }

  async get(hash: string): Promise<Buffer | null> {
    const data = await this.inner.get(hash);
    if (data) this.meter.bytesOut(data.length);
    return data;
  }

  async getRange(hash: string, start: number, end: number): Promise<BlockRange | null> {
    const r = await this.inner.getRange(hash, start, end);
    if (r) this.meter.bytesOut(r.data.length);
    return r;
  }

  has(hash: string): Promise<boolean> {
    return this.inner.has(hash);
  }

  delete(hash: string): Promise<void> {
    return this.inner.delete(hash);
  }

  makeDurable(hashes: readonly string[]): Promise<string[]> {
    return this.inner.makeDurable(hashes);
  }

  list(): AsyncIterable<string> {
    return this.inner.list();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
