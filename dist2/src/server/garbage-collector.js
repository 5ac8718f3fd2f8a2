/**
 * GarbageCollector: history retention, then deletion of blocks no kept revision references.
 *
 * One run:
 *   1. Retention (`MetadataStore.purgeHistory`, in batches of nodes): a file revision that stopped
 *      being current more than `keepMs` ago is removed (the current revision of a live file never,
 *      whatever its age); a node deleted more than `keepMs` ago loses its history but its delete
 *      revision (kept so the journal still tells old devices it is gone).
 *   2. Claims left by a collector that died mid-run (older than CLAIM_LEASE_MS) are taken over.
 *   3. Blocks that no revision references and that nobody sent for `graceMs` are claimed
 *      (`claimGarbage`, in batches), their bytes deleted, and the claims finished.
 *
 * Why no commit ever references a deleted block, and no upload in flight loses its block:
 *
 *   (a) A `blocks` record means "the bytes are stored". Records are written only after the bytes
 *       (PUT: BlockStore.put, then recordUpload), and the claim that removes a record (with every
 *       possession record of the block) commits before any byte is deleted. So while a record
 *       exists, the bytes exist.
 *   (b) Commits and restores check every block's record and insert their references in one
 *       metadata transaction; a claim checks "no reference" and removes the record in one
 *       transaction. The store serialises the two (SQLite: one writer; PostgreSQL must lock the
 *       block rows): a commit that comes first makes the block referenced, so it is not claimed;
 *       a commit that comes second finds no record and answers BLOCK_UNUSABLE, and the client sends
 *       the block again. No interleaving leaves a reference to a claimed block.
 *   (c) An upload whose commit has not arrived yet: its recordUpload set the block's `touched_at`,
 *       and a claim takes only blocks untouched for `graceMs` (default 24 h), so the block survives
 *       until the commit comes (which makes it referenced) or the grace runs out (the upload is
 *       then abandoned; a late commit gets BLOCK_UNUSABLE and re-sends). The grace must exceed the
 *       longest time between an upload and its commit, and clock skew between server processes.
 *   (d) An upload racing the deletion of the same bytes: the PUT reads the block's state first.
 *       `collecting` (claimed, bytes maybe being deleted) -> it waits and retries. `live` -> its
 *       write may be a no-op (bytes already there), so recordUpload(seen = 'live') insists that the
 *       record still exists; if a claim took it meanwhile, the PUT starts over and then writes the
 *       bytes itself. `absent` -> nobody deletes bytes of an unrecorded block (only claimed blocks
 *       are deleted, and a claim needs a record untouched for the grace), so its write stands.
 *       A claim stays until its bytes are deleted; a failed delete leaves the claim, and the block
 *       stays `collecting` until a later run takes the stale claim over and deletes it.
 *
 * Possession follows the bytes: a claim removes every user's possession record of the block, so
 * `missing` asks for it again, GET answers 404 and a commit answers BLOCK_UNUSABLE.
 *
 * Concurrency: `run()` is single-flight (a run asked for while one is under way shares it). The
 * periodic loop takes an AbortSignal; `close()` stops it and awaits the run in progress. Several
 * processes may collect at once (`loft gc` beside `loft serve`): claims are atomic, and a claim is
 * taken over only after CLAIM_LEASE_MS, far longer than deleting one batch takes.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
/** Default history retention: 30 days, as Dropbox Basic keeps versions. */
export const DEFAULT_KEEP_DAYS = 30;
/** Default grace for uploads awaiting their commit: far longer than any upload takes. */
export const DEFAULT_GC_GRACE_MS = 24 * 3_600_000;
/** Default time between runs in `loft serve`. */
export const DEFAULT_GC_INTERVAL_MS = 3_600_000;
/** First run after start: soon, so that a server restarted often still collects. */
const FIRST_RUN_MAX_DELAY_MS = 60_000;
/** A claim older than this belongs to a dead collector (one batch takes seconds). */
export const CLAIM_LEASE_MS = 10 * 60_000;
/** Nodes per retention transaction and blocks scanned per claim transaction: short transactions,
 * so that requests are not held up behind a long synchronous SQLite write. */
const PURGE_BATCH_NODES = 500;
const CLAIM_SCAN_BLOCKS = 1000;
const DAY_MS = 86_400_000;
export function keepDaysToMs(days) {
    return Math.round(days * DAY_MS);
}
export class GarbageCollector {
    #o;
    #running = null;
    #abort = null;
    #loop = null;
    constructor(options) {
        this.#o = options;
    }
    /** One full run (retention, then blocks); shares the run already under way, if any. */
    run() {
        this.#running ??= this.#run().finally(() => {
            this.#running = null;
        });
        return this.#running;
    }
    /** Runs every `intervalMs` until `close()`. */
    start(intervalMs) {
        if (this.#loop || intervalMs <= 0)
            return;
        const abort = new AbortController();
        this.#abort = abort;
        this.#loop = (async () => {
            let delay = Math.min(intervalMs, FIRST_RUN_MAX_DELAY_MS);
            while (!abort.signal.aborted) {
                if (!(await sleep(delay, abort.signal)))
                    break;
                try {
                    const r = await this.run();
                    this.#o.log?.('info', 'garbage collection done', r);
                }
                catch (err) {
                    this.#o.log?.('error', 'garbage collection failed', { err });
                }
                delay = intervalMs;
            }
        })();
    }
    async close() {
        this.#abort?.abort();
        await this.#loop;
        await this.#running?.catch(() => undefined);
    }
    async #run() {
        const { meta, blocks, clock } = this.#o;
        const started = clock.now();
        const report = {
            purgedRevisions: 0,
            purgedNodes: 0,
            deletedBlocks: 0,
            freedBytes: 0,
            failedDeletes: 0,
            durationMs: 0,
        };
        const cutoff = started - this.#o.keepMs;
        for (let after = 0; after !== null;) {
            const batch = await meta.purgeHistory(cutoff, after, PURGE_BATCH_NODES);
            report.purgedRevisions += batch.revisions;
            report.purgedNodes += batch.nodes;
            after = batch.next;
            await yieldToLoop();
        }
        const deleteAll = async (hashes, sizes) => {
            const done = [];
            for (const hash of hashes) {
                try {
                    await blocks.delete(hash);
                    done.push(hash);
                    report.deletedBlocks++;
                    report.freedBytes += sizes?.get(hash) ?? 0;
                }
                catch (err) {
                    // Left claimed (uploads of it wait): a later run takes the stale claim over.
                    report.failedDeletes++;
                    this.#o.log?.('error', 'deleting a collected block failed', { hash, err });
                }
            }
            await meta.finishClaims(done);
        };
        for (;;) {
            const stale = await meta.takeStaleClaims(clock.now() - CLAIM_LEASE_MS, clock.now(), CLAIM_SCAN_BLOCKS);
            if (stale.length === 0)
                break;
            await deleteAll(stale);
            if (stale.length < CLAIM_SCAN_BLOCKS)
                break;
        }
        const touchedBefore = started - this.#o.graceMs;
        for (let after = ''; after !== null;) {
            const batch = await meta.claimGarbage(touchedBefore, clock.now(), after, CLAIM_SCAN_BLOCKS);
            if (batch.claimed.length) {
                await deleteAll(batch.claimed.map((c) => c.hash), new Map(batch.claimed.map((c) => [c.hash, c.storedSize])));
            }
            after = batch.next;
            await yieldToLoop();
        }
        report.durationMs = clock.now() - started;
        return report;
    }
}
/** Resolves true after `ms`, or false at once when `signal` aborts. */
function sleep(ms, signal) {
    return new Promise((resolve) => {
        if (signal.aborted)
            return resolve(false);
        const timer = setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve(true);
        }, ms);
        const onAbort = () => {
            clearTimeout(timer);
            resolve(false);
        };
        signal.addEventListener('abort', onAbort, { once: true });
    });
}
//# sourceMappingURL=garbage-collector.js.map