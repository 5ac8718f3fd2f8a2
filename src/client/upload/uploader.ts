/**
 * Uploader: sends one file's content to the server with as few bytes as possible.
 *
 *   chunk + hash (worker thread) → "which of these must I send?" → PUT only those (bounded
 *   parallelism, each read back from the file at its offset) → commit with the parent revision.
 *
 * Content still being chunked (a new large file: `UploadContent.chunks`) is sent as a pipeline:
 * as each window's blocks arrive from the chunker they join the next missing-blocks question (one
 * question in flight; whatever arrived meanwhile goes in the next, so questions batch themselves),
 * and the blocks it names go to the scheduler at once, several in flight. Chunking, questions and
 * PUTs overlap; memory stays ~ concurrency × block size (bytes are read from the file when sent).
 *
 * A commit answered BLOCK_UNUSABLE (a block vanished or was never accepted between the question and
 * the commit) re-sends what the server names, once. A stale parent revision is a CONFLICT for the
 * caller to resolve (it keeps the local version as a conflicted copy); nothing is retried here.
 * `sentBytes` counts block payload bytes exactly.
 */
import fs from 'node:fs/promises';
import { isLoftError, LoftError } from '../../shared/errors.js';
import type { BlockRef, Revision } from '../../shared/protocol.js';
import type { ChunkedFile, ChunkOptions } from '../chunk/chunk-file.js';
import type { ChunkParams } from '../chunk/streaming-chunker.js';
import type { CommitRequest } from '../remote/remote-client.js';
import { feedChunks, type PlacedRef } from './block-feed.js';
import { UploadScheduler } from './upload-scheduler.js';

/** Files up to this size upload ahead of larger ones. */
const SMALL_FILE = 4 * 1024 * 1024;
/** Hashes per missing-blocks question of a pipelined upload (~70 KB of JSON; the server takes 100k). */
const QUESTION_MAX = 1024;
/**
 * `onBlock` (the drive's cache copy of what it sent) sees every block of a file up to this size,
 * and of a bigger file only the blocks within KEEP_EDGE of its start or end (where file-type
 * sniffers, thumbnailers and container indexes read: MP4's moov, ZIP's central directory). Copying
 * every sent block was half of the drive's disk writes and ~1 s of its CPU per GiB on the path
 * from close to committed (README "Where a new 1 GiB file's time goes"); the rest of a big file is
 * read from its staging file until the commit releases it, then from the server once.
 */
export const KEEP_WHOLE_MAX = 64 * 1024 * 1024;
export const KEEP_EDGE = 4 * 1024 * 1024;

/** Whether the block at [offset, offset + size) of a file of `fileSize` bytes goes to `onBlock`. */
export function keepsBlock(offset: number, size: number, fileSize: number): boolean {
  return fileSize <= KEEP_WHOLE_MAX || offset < KEEP_EDGE || offset + size > fileSize - KEEP_EDGE;
}

export interface UploadTarget {
  missingBlocks(hashes: string[], signal?: AbortSignal): Promise<string[]>;
  putBlock(hash: string, data: Buffer, signal?: AbortSignal): Promise<void>;
  commit(req: CommitRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }>;
}

export interface Chunker {
  chunk(path: string, params?: ChunkParams, options?: ChunkOptions): Promise<ChunkedFile>;
}

export interface UploadRequest extends UploadDestination {
  /** Local file holding the complete new content. */
  file: string;
}

/** Where a new revision goes and what it carries besides its content. */
export interface UploadDestination {
  /** A path (create or replace), a node id, or a new name inside the folder `parentId`. */
  path?: string;
  id?: number;
  parentId?: number;
  name?: string;
  parentRev: number | null;
  mtime: number;
  mode: number;
  signal?: AbortSignal;
}

/** Content ready to upload: its chunking, and a way to read any chunk's bytes. */
export interface UploadContent {
  blocks: readonly { hash: string; size: number; offset: number }[];
  size: number;
  read(offset: number, size: number): Promise<Buffer>;
  /** Releases what `read` holds open. */
  close?(): Promise<void>;
  /** The committed blocks as they are (a chmod, a utimens, a retried commit): nothing new to read. */
  metadataOnly?: boolean;
  /**
   * Content still being chunked: its blocks as they are found (`sendBlocks` sends them as they
   * come). `blocks` is complete only once `ready` has resolved.
   */
  chunks?: AsyncIterable<readonly { hash: string; size: number; offset: number }[]>;
  /** Resolves when `blocks` is complete (rejects if chunking failed); absent: complete already. */
  ready?: Promise<void>;
}

export interface UploadResult {
  rev: number;
  node: Revision;
  sentBytes: number;
  sentBlocks: number;
  totalBlocks: number;
  blocks: BlockRef[];
}

export interface UploadProgress {
  /** Bytes the server asked for, in total and sent so far (exact payload bytes). */
  toSend: number;
  sent: number;
}

export class Uploader {
  /** Block payload bytes sent since start. */
  sentBytes = 0;

  constructor(
    private readonly target: UploadTarget,
    private readonly chunker: Chunker,
    /** Shared by all uploads (adaptive concurrency, bandwidth cap); memory ≈ concurrency × 4 MiB. */
    private readonly scheduler: UploadScheduler = new UploadScheduler(),
  ) {}

  /** Chunks a local file and uploads it, sending blocks while the rest is chunked. */
  async upload(req: UploadRequest): Promise<UploadResult> {
    const fh = await fs.open(req.file, 'r');
    try {
      const size = (await fh.stat()).size;
      const { feed, stop } = feedChunks((p, o) => this.chunker.chunk(p, undefined, o), req.file, size);
      try {
        return await this.uploadContent(
          {
            get blocks() {
              return feed.all;
            },
            size,
            read: async (offset: number, n: number) => {
              const data = Buffer.allocUnsafe(n); // filled by the read, or refused
              const { bytesRead } = await fh.read(data, 0, n, offset);
              if (bytesRead !== n)
                throw new LoftError('CONFLICT', `${req.file} changed while it was uploaded`);
              return data;
            },
            chunks: feed,
            ready: feed.done,
          },
          req,
        );
      } finally {
        stop();
        await feed.done.catch(() => {});
      }
    } finally {
      await fh.close();
    }
  }

  /**
   * Sends the blocks the server lacks, then commits. `onBlock` sees the bytes of the blocks worth
   * keeping as they are sent (`keepsBlock`: the drive keeps them in its cache); `progress` is
   * updated as bytes go out.
   */
  async uploadContent(
    content: UploadContent,
    dest: UploadDestination,
    progress: UploadProgress = { toSend: 0, sent: 0 },
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<UploadResult> {
    const sent = await this.sendBlocks(content, dest.signal, progress, onBlock);
    const r = await this.commitContent(content, dest, progress, onBlock);
    return { ...r, sentBytes: r.sentBytes + sent.bytes, sentBlocks: r.sentBlocks + sent.blocks };
  }

  /** Asks which blocks the server lacks and sends them. */
  async sendBlocks(
    content: UploadContent,
    signal?: AbortSignal,
    progress: UploadProgress = { toSend: 0, sent: 0 },
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<{ bytes: number; blocks: number }> {
    if (content.chunks) return this.#pipeline(content, content.chunks, signal, progress, onBlock);
    const hashes = [...new Set(content.blocks.map((b) => b.hash))];
    const missing = await this.target.missingBlocks(hashes, signal);
    return this.#send(content, placesOf(content), missing, signal, progress, onBlock);
  }

  /** sendBlocks of content still being chunked: questions and PUTs while the chunker runs. */
  async #pipeline(
    content: UploadContent,
    chunks: NonNullable<UploadContent['chunks']>,
    signal: AbortSignal | undefined,
    progress: UploadProgress,
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<{ bytes: number; blocks: number }> {
    const where: Places = new Map();
    const waiting: string[] = [];
    const sends: Promise<{ bytes: number; blocks: number }>[] = [];
    let error: unknown = null;
    const fail = (err: unknown) => void (error ??= err);
    let question: Promise<void> | null = null;
    // One question at a time; it keeps asking while blocks keep arriving (set to null synchronously
    // when it finds nothing waiting, so a block pushed after that starts a new one).
    const ask = async () => {
      try {
        while (waiting.length > 0 && error === null) {
          const missing = await this.target.missingBlocks(waiting.splice(0, QUESTION_MAX), signal);
          const sent = this.#send(content, where, missing, signal, progress, onBlock);
          sent.catch(fail);
          sends.push(sent);
        }
      } catch (err) {
        fail(err);
      } finally {
        question = null;
      }
    };
    try {
      for await (const blocks of chunks) {
        for (const b of blocks) {
          if (where.has(b.hash)) continue;
          where.set(b.hash, { offset: b.offset, size: b.size });
          waiting.push(b.hash);
        }
        if (error !== null) break;
        if (waiting.length > 0) question ??= ask();
      }
    } catch (err) {
      fail(err); // chunking failed (the file changed, the chunker was stopped)
    }
    while (question) await question;
    // Every PUT started has ended before this returns (the caller closes the file next).
    const results = await Promise.allSettled(sends);
    if (error !== null) throw error;
    await content.ready;
    let bytes = 0;
    let blocks = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') {
        bytes += r.value.bytes;
        blocks += r.value.blocks;
      }
    }
    return { bytes, blocks };
  }

  /** Sends those of the content's blocks that `missing` names (asked for many files at once). */
  async sendMissing(
    content: UploadContent,
    missing: ReadonlySet<string>,
    signal?: AbortSignal,
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<{ bytes: number; blocks: number }> {
    await content.ready;
    const hashes = [...new Set(content.blocks.map((b) => b.hash))].filter((h) => missing.has(h));
    return this.#send(content, placesOf(content), hashes, signal, { toSend: 0, sent: 0 }, onBlock);
  }

  /**
   * Sends, of these blocks of a file still being written (chunk-ahead.ts), those the server lacks,
   * so that the file's upload at its close finds them there. Nothing is committed. The file's size
   * is not known yet: `onBlock` sees only blocks at its start (keepsBlock's front edge).
   */
  async presend(
    blocks: readonly PlacedRef[],
    read: UploadContent['read'],
    signal?: AbortSignal,
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<{ bytes: number; blocks: number }> {
    const where: Places = new Map();
    for (const b of blocks) where.set(b.hash, { offset: b.offset, size: b.size });
    const missing = await this.target.missingBlocks([...where.keys()], signal);
    const content = { blocks, size: Infinity, read };
    return this.#send(content, where, missing, signal, { toSend: 0, sent: 0 }, onBlock);
  }

  /** Of `hashes`, those the server asks for (the question `sendBlocks` asks for one file). */
  missingBlocks(hashes: string[], signal?: AbortSignal): Promise<string[]> {
    return this.target.missingBlocks(hashes, signal);
  }

  /** Commits content whose blocks were sent; re-sends, once, blocks the server says it lacks. */
  async commitContent(
    content: UploadContent,
    dest: UploadDestination,
    progress: UploadProgress = { toSend: 0, sent: 0 },
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<UploadResult> {
    await content.ready;
    const blocks = content.blocks.map((b) => ({ hash: b.hash, size: b.size }));
    const commit: CommitRequest = {
      ...(dest.path !== undefined
        ? { path: dest.path }
        : dest.parentId !== undefined
          ? { parentId: dest.parentId, name: dest.name! }
          : { id: dest.id! }),
      parentRev: dest.parentRev,
      blocks,
      size: content.size,
      mtime: dest.mtime,
      mode: dest.mode,
    };
    let result: { rev: number; node: Revision };
    let sent = { bytes: 0, blocks: 0 };
    try {
      result = await this.target.commit(commit, dest.signal);
    } catch (err) {
      if (!isLoftError(err, 'BLOCK_UNUSABLE')) throw err;
      const missing = (err.details?.missing as string[] | undefined) ?? [];
      sent = await this.#send(content, placesOf(content), missing, dest.signal, progress, onBlock);
      result = await this.target.commit(commit, dest.signal);
    }
    return { ...result, sentBytes: sent.bytes, sentBlocks: sent.blocks, totalBlocks: blocks.length, blocks };
  }

  async #send(
    content: UploadContent,
    where: Places,
    hashes: string[],
    signal: AbortSignal | undefined,
    progress: UploadProgress,
    onBlock?: (hash: string, data: Buffer) => void,
  ): Promise<{ bytes: number; blocks: number }> {
    for (const h of hashes) progress.toSend += where.get(h)?.size ?? 0;
    let bytes = 0;
    let blocks = 0;
    // Small files go first: a quick save is not stuck behind a bulk upload.
    const priority = content.size <= SMALL_FILE ? 1 : 0;
    await Promise.all(
      hashes.map((hash) =>
        this.scheduler.run(
          where.get(hash)?.size ?? 0,
          async () => {
            const loc = where.get(hash);
            if (!loc)
              throw new LoftError('INTERNAL', `server asked for block ${hash} that this file does not have`);
            const data = await content.read(loc.offset, loc.size);
            await this.target.putBlock(hash, data, signal);
            bytes += data.length;
            blocks++;
            this.sentBytes += data.length;
            progress.sent += data.length;
            if (keepsBlock(loc.offset, loc.size, content.size)) onBlock?.(hash, data);
          },
          priority,
        ),
      ),
    );
    return { bytes, blocks };
  }
}

/** Where each block of a file lies, by hash. */
type Places = Map<string, { offset: number; size: number }>;

function placesOf(content: UploadContent): Places {
  const where: Places = new Map();
  for (const b of content.blocks) where.set(b.hash, { offset: b.offset, size: b.size });
  return where;
}
