/**
 * HashThread: a worker thread that computes SHA-256 of byte ranges of a SharedArrayBuffer, so that
 * chunkFile chunks one window while the previous one is hashed (the two halves of the work take
 * about as long each: FastCDC ~1.3 GB/s, SHA-256 ~1.6 GB/s on this machine). One per thread that
 * calls chunkFile, started on first use and kept (unref'd); a crashed worker fails its pending
 * requests and is replaced on the next use.
 */
import { Worker } from 'node:worker_threads';
import { LoftError } from '../../shared/errors.js';

interface Pending {
  resolve: (hashes: string[]) => void;
  reject: (err: Error) => void;
}

export class HashThread {
  #worker: Worker | null = null;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  /** SHA-256 (hex) of each [offset, length] pair of `ranges` in `buffer`. */
  hash(buffer: SharedArrayBuffer, ranges: number[]): Promise<string[]> {
    const worker = this.#ensure();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) worker.ref(); // keep the process alive while a request is out
      worker.postMessage({ id, buffer, ranges });
    });
  }

  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = null;
    this.#failAll(new LoftError('UNAVAILABLE', 'hash thread closed'));
    await w?.terminate();
  }

  #ensure(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (msg: { id: number; hashes: string[] }) => {
      const p = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      if (this.#pending.size === 0) worker.unref();
      p?.resolve(msg.hashes);
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = null;
      this.#failAll(err);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new LoftError('INTERNAL', `hash worker exited (${code})`)));
    this.#worker = worker;
    return worker;
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}
