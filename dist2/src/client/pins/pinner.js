/**
 * Pinner: "available offline". Keeps the set of block hashes that pinned files reference (the cache
 * never evicts them) and hydrates those blocks in the background, at BACKGROUND priority so reads
 * always go first, with progress for `loft status`.
 *
 * The pinned set is recomputed from the mirror whenever pins change or remote changes arrive; a
 * pass of hydration then fetches whatever is missing. One pass runs at a time; a request during a
 * pass schedules exactly one more (bounded: no queue of passes).
 */
import { FsError } from '../../shared/errors.js';
import { formatBytes } from '../../shared/size.js';
import { allocated } from '../cache/disk-block-cache.js';
import { BACKGROUND } from '../hydrate/hydrator.js';
/** Blocks fetched at once while hydrating pins (reads keep the rest of the fetch slots). */
const PIN_PARALLELISM = 4;
export class Pinner {
    #mirror;
    #cache;
    #hydrator;
    #log;
    #hashes = new Map();
    #files = 0;
    #running = null;
    #again = false;
    #error = null;
    #closed = false;
    constructor(options) {
        this.#mirror = options.mirror;
        this.#cache = options.cache;
        this.#hydrator = options.hydrator;
        this.#log = options.log ?? (() => { });
        this.refresh();
    }
    isPinnedHash = (hash) => this.#hashes.has(hash);
    /** Bytes of distinct blocks that pinned files need. */
    get pinnedBytes() {
        let n = 0;
        for (const size of this.#hashes.values())
            n += size;
        return n;
    }
    progress() {
        let cached = 0;
        for (const [hash, size] of this.#hashes)
            if (this.#cache.has(hash))
                cached += size;
        return {
            files: this.#files,
            totalBytes: this.pinnedBytes,
            cachedBytes: cached,
            hydrating: this.#running !== null,
            error: this.#error,
        };
    }
    /** Pins nodes by id; refuses (ENOSPC) when pinned data could not fit under the cache cap. */
    pin(ids) {
        const before = this.#mirror.pinnedIds();
        for (const id of ids)
            this.#mirror.pin(id);
        const needed = this.#compute();
        const cap = this.#cache.usage().capBytes;
        if (needed.bytes > cap) {
            for (const id of ids)
                if (!before.has(id))
                    this.#mirror.unpin(id);
            throw new FsError('ENOSPC', `pinned files would need ${formatBytes(needed.bytes)} but the cache cap is ${formatBytes(cap)} (raise --cache-size)`);
        }
        this.refresh();
    }
    unpin(ids) {
        for (const id of ids)
            this.#mirror.unpin(id);
        const was = this.#hashes;
        this.refresh();
        // Free the space now: unpinned blocks go to the front of the eviction order.
        for (const hash of was.keys())
            if (!this.#hashes.has(hash))
                this.#cache.demote(hash);
    }
    /** Recomputes the pinned set (after pins or the tree changed) and hydrates what is missing. */
    refresh() {
        const { hashes, files } = this.#compute();
        this.#hashes = hashes;
        this.#files = files;
        if (hashes.size > 0)
            this.#kick();
    }
    async close() {
        this.#closed = true;
        await this.#running;
    }
    #compute() {
        const hashes = new Map();
        const files = this.#mirror.pinnedFiles();
        for (const f of files)
            for (const b of this.#mirror.blocks(f.id))
                hashes.set(b.hash, b.size);
        // What the cache will charge: sizes rounded up to its allocation unit.
        let bytes = 0;
        for (const s of hashes.values())
            bytes += allocated(s);
        return { hashes, files: files.length, bytes };
    }
    #kick() {
        if (this.#running) {
            this.#again = true;
            return;
        }
        this.#running = this.#pass().finally(() => {
            this.#running = null;
            if (this.#again && !this.#closed) {
                this.#again = false;
                this.#kick();
            }
        });
    }
    async #pass() {
        const todo = [...this.#hashes].filter(([hash]) => !this.#cache.has(hash));
        if (todo.length === 0)
            return;
        let failed = 0;
        let next = 0;
        const worker = async () => {
            while (next < todo.length && !this.#closed) {
                const [hash, size] = todo[next++];
                if (!this.#hashes.has(hash))
                    continue; // unpinned meanwhile
                try {
                    if (!(await this.#hydrator.ensureCached(hash, size, BACKGROUND)))
                        failed++;
                }
                catch (err) {
                    failed++;
                    this.#error = err.message;
                }
            }
        };
        await Promise.all(Array.from({ length: PIN_PARALLELISM }, worker));
        if (failed === 0)
            this.#error = null;
        else
            this.#log('pin hydration incomplete; will retry', { failed, error: this.#error });
    }
}
//# sourceMappingURL=pinner.js.map