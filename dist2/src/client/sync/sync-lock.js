/**
 * SyncLock: mutual exclusion between applying journal pages and the last step of a push (the
 * request that changes the server and the mirror update that records its answer).
 *
 * Without it, the journal echo of a commit could be applied before the push has recorded the
 * commit's answer (e.g. before a temporary id is replaced by the server's), and the mirror would
 * hold the same file twice. Holders never wait on each other otherwise, so there is no deadlock:
 * the queue is FIFO and every holder finishes without taking the lock again.
 */
export class SyncLock {
    #tail = Promise.resolve();
    run(fn) {
        const result = this.#tail.then(() => fn());
        this.#tail = result.then(() => undefined, () => undefined);
        return result;
    }
}
//# sourceMappingURL=sync-lock.js.map