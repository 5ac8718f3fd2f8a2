/**
 * Hydrator: turns byte ranges of a file revision into block bytes, fetching only what is missing.
 *
 * Lookup order for a block: a small in-memory LRU of recent blocks (kernel reads arrive in 128 KiB
 * pieces; one block serves many) → the disk cache (verified on read) → one fetch from the server,
 * shared by every reader that wants the same block (single-flight), verified against its SHA-256
 * before anyone sees it; a mismatch is refetched once and then reported as CORRUPT (EIO).
 *
 * Scheduling: fetches run through one p-queue (bounded concurrency). Demanded blocks run at
 * DEMAND priority; readahead and pin hydration run lower, and a queued low-priority fetch that a
 * reader starts waiting on is raised to DEMAND. Sequential reads grow a per-handle readahead window
 * (doubling up to a cap tied to the cache size); a jump resets it.
 *
 * Offline: a network failure marks the connection offline (logged once). While offline a demanded
 * block gets one attempt, so an uncached read fails fast with EIO; while online it is retried with
 * backoff for up to RETRY_BUDGET_MS, which rides out a server restart.
 */
import PQueue from 'p-queue';
import { LoftError, isLoftError } from '../../shared/errors.js';
import { sha256hex } from '../../shared/hash.js';
export const DEMAND = 10;
export const READAHEAD = 5;
export const BACKGROUND = 1;
/** Parallel block downloads: enough to fill a fast link with ~1 MiB blocks, few enough to stay fair. */
const DEFAULT_CONCURRENCY = 8;
/**
 * Recent blocks kept in memory to serve consecutive small reads of the same block. At least four
 * readahead windows, so blocks fetched ahead are still here when the reader arrives (a miss costs a
 * disk read and a re-hash: measured at ~25% of cold-read CPU when this was only one window).
 */
const DEFAULT_MEMORY_BYTES = 128 * 1024 * 1024;
/** First readahead window once reads look sequential. */
const INITIAL_WINDOW = 2 * 1024 * 1024;
/**
 * Largest readahead window (also capped at a quarter of the cache so it is not evicted unread).
 * 32 MiB in flight covers ~250 ms at 1 Gbit/s; on loopback the window is full long before that.
 */
const MAX_WINDOW = 32 * 1024 * 1024;
/** How far from the stream position a read may land and still count as sequential. */
const SEQUENTIAL_SLACK = 1024 * 1024;
/** How long a demanded block is retried while the server seems up (ms). */
const RETRY_BUDGET_MS = 4000;
export function newReadState() {
    return { nextOffset: -1, window: 0 };
}
export class Hydrator {
    #source;
    #cache;
    #net;
    #queue;
    #flights = new Map();
    #memory = new Map();
    #memoryBytesMax;
    #memoryBytes = 0;
    #nextId = 0;
    #log;
    #abort = new AbortController();
    /** Block payload bytes downloaded since start (refetches included). */
    downloadedBytes = 0;
    downloadedBlocks = 0;
    /** Where demanded blocks came from (for `loft status --json` and tuning). */
    served = { memory: 0, disk: 0, inFlight: 0, fetched: 0 };
    constructor(options) {
        this.#source = options.source;
        this.#cache = options.cache;
        this.#net = options.connectivity;
        this.#queue = new PQueue({ concurrency: options.concurrency ?? DEFAULT_CONCURRENCY });
        this.#memoryBytesMax = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
        this.#log = options.log ?? (() => { });
    }
    /** Downloads in flight or queued: count and bytes. */
    /** True while a block some reader is waiting for is being downloaded (uploads yield to it). */
    get demandActive() {
        for (const f of this.#flights.values())
            if (f.priority >= DEMAND)
                return true;
        return false;
    }
    get pending() {
        let bytes = 0;
        for (const f of this.#flights.values())
            bytes += f.size;
        return { blocks: this.#flights.size, bytes };
    }
    close() {
        this.#abort.abort();
        this.#queue.clear();
    }
    /**
     * Copies bytes [offset, offset+length) of the file described by `extents` into `out`; returns the
     * number of bytes copied (short at end of file).
     */
    async read(extents, fileSize, offset, out, state) {
        const end = Math.min(offset + out.length, fileSize);
        if (offset >= end)
            return 0;
        const first = findExtent(extents, offset);
        // Start every demanded block first (DEMAND priority), then readahead behind them.
        const parts = [];
        for (let i = first, pos = offset; pos < end; i++) {
            const ext = extents[i];
            if (!ext || ext.offset > pos)
                throw new LoftError('CORRUPT', `block map has no block at offset ${pos}`);
            const data = this.block(ext.hash, ext.size, DEMAND);
            // A later block may fail while an earlier one is still awaited: never an unhandled rejection.
            data.catch(() => { });
            parts.push({ ext, data });
            pos = ext.offset + ext.size;
        }
        if (state)
            this.#readahead(extents, offset, end, first, state);
        let copied = 0;
        let pos = offset;
        for (const { ext, data } of parts) {
            const bytes = await data;
            const from = pos - ext.offset;
            const n = Math.min(ext.size - from, end - pos);
            bytes.copy(out, copied, from, from + n);
            copied += n;
            pos += n;
        }
        return copied;
    }
    /** The verified bytes of one block, from memory, the disk cache or the server. */
    async block(hash, size, priority) {
        const demanded = priority >= DEMAND;
        const mem = this.#memory.get(hash);
        if (mem) {
            if (demanded)
                this.served.memory++;
            this.#memory.delete(hash);
            this.#memory.set(hash, mem);
            return mem;
        }
        const flight = this.#flights.get(hash);
        if (flight) {
            if (demanded)
                this.served.inFlight++;
            if (priority > flight.priority) {
                flight.priority = priority;
                try {
                    this.#queue.setPriority(flight.id, priority);
                }
                catch {
                    // already running
                }
            }
            return flight.promise;
        }
        if (this.#cache.has(hash)) {
            const cached = await this.#cache.get(hash);
            if (cached) {
                if (demanded)
                    this.served.disk++;
                this.#remember(hash, cached);
                return cached;
            }
            // Corrupt or missing: fall through and refetch.
            if (this.#flights.has(hash))
                return this.#flights.get(hash).promise;
        }
        if (demanded)
            this.served.fetched++;
        return this.#fetch(hash, size, priority);
    }
    /** Fetches a block into the cache in the background (readahead, pins). Errors are swallowed. */
    prefetch(hash, size, priority) {
        if (this.#memory.has(hash) || this.#flights.has(hash) || this.#cache.has(hash))
            return;
        this.#fetch(hash, size, priority).catch(() => { });
    }
    /** Ensures a block is in the disk cache (pin hydration); resolves false if the cache declined it. */
    async ensureCached(hash, size, priority) {
        if (this.#cache.has(hash))
            return true;
        const data = await this.block(hash, size, priority);
        if (this.#cache.has(hash))
            return true;
        return this.#cache.put(hash, data);
    }
    #fetch(hash, size, priority) {
        const id = String(this.#nextId++);
        const flight = { id, priority, size, promise: undefined };
        flight.promise = this.#queue
            .add(() => this.#download(hash, size, flight), { priority, id })
            .then((data) => {
            this.#remember(hash, data);
            // The reader does not wait for the disk: space is reserved synchronously inside put (so
            // `has` is true at once and the cap holds), and a cache read of the block waits for the
            // write. A failed write only means the block is fetched again later.
            this.#cache
                .put(hash, data)
                .catch((err) => this.#log('cache write failed', { hash, error: String(err) }));
            return data;
        })
            .finally(() => this.#flights.delete(hash));
        this.#flights.set(hash, flight);
        return flight.promise;
    }
    async #download(hash, size, flight) {
        const started = Date.now();
        // Decided once per download: a server that was up when the read began gets the retry budget
        // (it may be restarting); one already known to be down gets a single attempt (fail fast).
        const wasOnline = this.#net.online;
        let mismatches = 0;
        for (let attempt = 0;; attempt++) {
            try {
                const data = await this.#source.getBlock(hash, this.#abort.signal);
                this.downloadedBytes += data.length;
                this.downloadedBlocks++;
                this.#net.setOnline(true);
                if (data.length === size && sha256hex(data) === hash)
                    return data;
                if (++mismatches >= 2) {
                    this.#log('block failed verification twice', { hash });
                    throw new LoftError('CORRUPT', `block ${hash} does not match its hash (fetched twice)`);
                }
                continue;
            }
            catch (err) {
                if (this.#abort.signal.aborted)
                    throw new LoftError('UNAVAILABLE', 'drive is shutting down');
                if (!isLoftError(err, 'UNAVAILABLE'))
                    throw err;
                this.#net.setOnline(false, err.message);
                const elapsed = Date.now() - started;
                const background = flight.priority < DEMAND;
                if ((!wasOnline && !background) || elapsed > RETRY_BUDGET_MS)
                    throw err;
                await sleep(Math.min(200 * 2 ** attempt, 1000));
            }
        }
    }
    #remember(hash, data) {
        if (data.length > this.#memoryBytesMax)
            return;
        if (this.#memory.has(hash))
            return;
        this.#memory.set(hash, data);
        this.#memoryBytes += data.length;
        for (const [h, b] of this.#memory) {
            if (this.#memoryBytes <= this.#memoryBytesMax)
                break;
            this.#memory.delete(h);
            this.#memoryBytes -= b.length;
        }
    }
    /** Forgets a block kept in memory (its file changed remotely). */
    forget(hash) {
        const b = this.#memory.get(hash);
        if (b) {
            this.#memory.delete(hash);
            this.#memoryBytes -= b.length;
        }
    }
    #readahead(extents, offset, end, first, state) {
        // The kernel issues several reads of one stream at once and they may arrive slightly out of
        // order, so "sequential" means "near where the stream has got to", not "exactly at its end".
        const sequential = state.nextOffset >= 0 &&
            offset >= state.nextOffset - SEQUENTIAL_SLACK &&
            offset <= state.nextOffset + SEQUENTIAL_SLACK;
        state.nextOffset = sequential ? Math.max(state.nextOffset, end) : end;
        if (!sequential) {
            state.window = 0;
            return;
        }
        const maxWindow = Math.max(INITIAL_WINDOW, Math.min(MAX_WINDOW, Math.floor(this.#cache.usage().capBytes / 4)));
        state.window = Math.min(Math.max(state.window * 2, INITIAL_WINDOW), maxWindow);
        const limit = state.nextOffset + state.window;
        for (let i = first; i < extents.length && extents[i].offset < limit; i++) {
            const ext = extents[i];
            if (ext.offset + ext.size <= end)
                continue;
            this.prefetch(ext.hash, ext.size, READAHEAD);
        }
    }
}
/** Index of the extent containing `offset` (binary search over sorted offsets). */
export function findExtent(extents, offset) {
    let lo = 0;
    let hi = extents.length - 1;
    while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (extents[mid].offset <= offset)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}
function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}
//# sourceMappingURL=hydrator.js.map