/**
 * ChunkWorkerPool: chunk + hash files on worker threads, so the thread that answers FUSE never
 * spends seconds hashing a large file. One file per worker at a time; further requests wait in a
 * FIFO (bounded by its callers: the upload queue hands over at most `size` files at once).
 */
import { Worker } from 'node:worker_threads';
import { LoftError } from '../../shared/errors.js';
export class ChunkWorkerPool {
    size;
    #slots = [];
    #queue = [];
    #nextId = 0;
    #closed = false;
    /** `size` workers; 2 by default (one per core of a small machine, the FUSE thread mostly waits). */
    constructor(size = 2) {
        this.size = size;
        for (let i = 0; i < size; i++)
            this.#slots.push(this.#spawn());
    }
    chunk(path, params) {
        if (this.#closed)
            return Promise.reject(new LoftError('UNAVAILABLE', 'chunk workers are closed'));
        return new Promise((resolve, reject) => {
            this.#queue.push({ path, params, resolve, reject });
            this.#dispatch();
        });
    }
    async close() {
        this.#closed = true;
        for (const job of this.#queue.splice(0))
            job.reject(new LoftError('UNAVAILABLE', 'chunk workers are closed'));
        await Promise.all(this.#slots.map((s) => s.worker.terminate()));
    }
    #spawn() {
        const worker = new Worker(new URL('./chunk-worker.js', import.meta.url));
        worker.unref();
        const slot = { worker, job: null };
        worker.on('message', (msg) => {
            const job = slot.job;
            slot.job = null;
            if (job) {
                if (msg.error)
                    job.reject(Object.assign(new Error(msg.error.message), { code: msg.error.code }));
                else
                    job.resolve(msg.result);
            }
            this.#dispatch();
        });
        // A crashed (or otherwise exited) worker fails its job and is replaced.
        const replace = (err) => {
            if (this.#slots.indexOf(slot) < 0)
                return;
            slot.job?.reject(err);
            slot.job = null;
            if (!this.#closed) {
                this.#slots[this.#slots.indexOf(slot)] = this.#spawn();
                this.#dispatch();
            }
        };
        worker.on('error', replace);
        worker.on('exit', (code) => {
            if (!this.#closed)
                replace(new LoftError('INTERNAL', `chunk worker exited (${code})`));
        });
        return slot;
    }
    #dispatch() {
        for (const slot of this.#slots) {
            if (slot.job || this.#queue.length === 0)
                continue;
            const job = this.#queue.shift();
            slot.job = job;
            slot.worker.postMessage({ id: this.#nextId++, path: job.path, params: job.params });
        }
    }
}
//# sourceMappingURL=chunk-worker-pool.js.map