// Upload with dedup, as the drive does it (src/client/upload): FastCDC chunks (chunker.js, the
// drive's parameters) → SHA-256 of each (WebCrypto) → ask the server which it lacks
// (POST /v1/blocks/missing) → send only those (PUT /v1/blocks/:hash) → commit the block list
// (POST /v1/commit). A file the server already has costs only its hashing.
//
// Resumable: a dropped connection is retried from "which blocks are missing?", so blocks sent
// before the drop are not sent again; nothing is visible to anyone until the commit, which is
// atomic on the server.

import { api, ApiError, putBlock, q } from './api.js';
import { loadChunker, StreamingChunker } from './chunker.js';

/** File bytes read per step: bounded memory whatever the file's size (plus the chunker's carry). */
const READ_WINDOW = 8 * 1024 * 1024;
const MAX_HASHES_PER_REQUEST = 100_000;
/** Whole-file retries after a dropped connection (each resumes from the missing blocks). */
const ATTEMPTS = 4;
const RETRY_MS = 1000;

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Chunks and hashes a File: [{hash, size, offset}] (onBytes: bytes hashed so far). */
export async function hashFile(file, onBytes) {
  if (!globalThis.crypto?.subtle)
    throw new Error('SHA-256 (WebCrypto) needs a secure context: open the page over HTTPS or on localhost');
  await loadChunker();
  const chunker = new StreamingChunker();
  const blocks = [];
  const take = async (chunks) => {
    for (const c of chunks) {
      const digest = await crypto.subtle.digest('SHA-256', c.data);
      blocks.push({ hash: hex(digest), size: c.data.length, offset: c.offset });
      onBytes(c.offset + c.data.length);
    }
  };
  for (let at = 0; at < file.size; at += READ_WINDOW) {
    const part = new Uint8Array(await file.slice(at, at + READ_WINDOW).arrayBuffer());
    await take(chunker.push(part));
  }
  await take(chunker.end());
  return blocks;
}

async function missingOf(blocks) {
  const unique = [...new Set(blocks.map((b) => b.hash))];
  const missing = new Set();
  for (let i = 0; i < unique.length; i += MAX_HASHES_PER_REQUEST) {
    const r = await api('POST', '/v1/blocks/missing', {
      hashes: unique.slice(i, i + MAX_HASHES_PER_REQUEST),
    });
    for (const h of r.missing) missing.add(h);
  }
  return missing;
}

async function ensureFolder(path) {
  if (path === '/') return;
  try {
    await api('POST', '/v1/mkdir', { path, parents: true });
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'EXISTS')) throw err;
  }
}

async function currentRev(path) {
  try {
    const node = await api('GET', `/v1/node?path=${q(path)}`);
    if (node.deleted) return null;
    if (node.kind !== 'file') throw new ApiError(409, 'IS_DIR', `${path} is a folder`);
    return node.rev;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
}

/**
 * Uploads one File to `path`. `progress({phase, hashed, sent, total})` is called as it goes.
 * Returns {rev, sentBytes}.
 */
export async function uploadFile(
  file,
  path,
  progress,
  sleep = (ms) => new Promise((r) => setTimeout(r, ms)),
) {
  const total = file.size;
  progress({ phase: 'hashing', hashed: 0, sent: 0, total });
  const blocks = await hashFile(file, (hashed) => progress({ phase: 'hashing', hashed, sent: 0, total }));
  let sentBytes = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const missing = await missingOf(blocks);
      const toSend = blocks.filter((b) => missing.delete(b.hash)); // each missing hash once
      const need = toSend.reduce((n, b) => n + b.size, 0);
      let done = 0;
      progress({ phase: 'sending', hashed: total, sent: 0, total: need });
      for (const b of toSend) {
        await putBlock(b.hash, file.slice(b.offset, b.offset + b.size));
        done += b.size;
        sentBytes += b.size;
        progress({ phase: 'sending', hashed: total, sent: done, total: need });
      }
      const parent = path.slice(0, path.lastIndexOf('/')) || '/';
      await ensureFolder(parent);
      const parentRev = await currentRev(path);
      const r = await api('POST', '/v1/commit', {
        path,
        parentRev,
        blocks: blocks.map((b) => ({ hash: b.hash, size: b.size })),
        size: total,
        mtime: file.lastModified || Date.now(),
      });
      progress({ phase: 'done', hashed: total, sent: need, total: need });
      return { rev: r.rev, sentBytes };
    } catch (err) {
      const transient = err instanceof ApiError && (err.status === 0 || err.status === 503);
      if (!transient || attempt >= ATTEMPTS) throw err;
      progress({ phase: 'retrying', hashed: total, sent: 0, total });
      await sleep(RETRY_MS * attempt);
    }
  }
}
