/**
 * BlockStore: immutable blocks addressed by the lower-case hex SHA-256 of their bytes.
 *
 * Contract (test/contract/block-store-contract.ts runs it against every implementation):
 * - `put` verifies the bytes against the hash (HASH_MISMATCH, nothing stored), rejects blocks over
 *   the size limit (TOO_LARGE), is idempotent and atomic: a reader sees the whole block or nothing.
 * - `get` returns exactly the bytes that were put, or null when the block is absent; bytes that no
 *   longer match their hash (disk rot) throw CORRUPT instead of being served. (FsBlockStore may
 *   leave that check to its readers, see its `verifyOnGet`: the server does, since every client
 *   verifies each block it receives.)
 * - `delete` of an absent block is not an error.
 */
export interface PutResult {
  /** False when the block was already stored (the put changed nothing). */
  created: boolean;
  /** Bytes the block takes in the store (after compression); 0 when nothing new was stored. */
  storedSize: number;
}

export interface BlockStore {
  put(hash: string, data: Uint8Array): Promise<PutResult>;
  get(hash: string): Promise<Buffer | null>;
  has(hash: string): Promise<boolean>;
  delete(hash: string): Promise<void>;
  /** Every stored hash, in no particular order (for garbage collection and checks). */
  list(): AsyncIterable<string>;
  close(): Promise<void>;
}
