/**
 * RemoteClient: the drive's view of the server's HTTP API (docs/PROTOCOL.md), on undici with
 * keep-alive connections.
 *
 * Errors: a server answer with an error body becomes the LoftError with the server's code; a
 * network failure (refused, reset, timed out) becomes UNAVAILABLE, which callers treat as "offline"
 * and retry with backoff. Idempotent reads retry here a bounded number of times; writes do not.
 */
import { rootCertificates } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';
import { httpStatus, LoftError, type ErrorCode } from '../../shared/errors.js';
import { sha256hex } from '../../shared/hash.js';
import {
  PIECE_HASHES_HEADER,
  type ErrorBody,
  type BlockRangeAnswer,
  type BlockRef,
  type ChangesPage,
  type Revision,
  type TreePageBody,
} from '../../shared/protocol.js';

/** One HTTP exchange as the client sees it: what `#send` needs, no more. */
export interface TransportRequest {
  method: 'GET' | 'POST' | 'PUT';
  /** Absolute URL. */
  url: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
  signal: AbortSignal | undefined;
  timeoutMs: number;
}

export interface TransportResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<unknown> & { arrayBuffer(): Promise<ArrayBuffer> };
}

/**
 * Sends one request; throws on a network failure (refused, reset, timed out). The default is
 * undici over keep-alive connections; the deterministic simulation hands requests to an
 * in-process server on its own schedule (test/helpers/det-sim).
 */
export type Transport = (req: TransportRequest) => Promise<TransportResponse>;

export interface RemoteOptions {
  url: string;
  token: string;
  /** Instead of undici (tests): how requests reach the server. */
  transport?: Transport;
  /** Per-request timeout for ordinary calls (ms). */
  timeoutMs?: number;
  /** Connections kept to the server (parallel block fetches). */
  connections?: number;
  /**
   * PEM of a private CA to trust besides the system's (an https:// server with a certificate of
   * its own). Certificates are always verified.
   */
  ca?: string;
}

export interface CommitRequest {
  path?: string;
  id?: number;
  /** Creates `name` inside the folder `parentId`, wherever it is now (instead of path or id). */
  parentId?: number;
  name?: string;
  parentRev: number | null;
  blocks: BlockRef[];
  size: number;
  mtime: number;
  mode?: number;
}

export interface MkdirRequest {
  /** A path, or `name` inside the folder `parentId` (follows that folder's moves). */
  path?: string;
  parentId?: number;
  name?: string;
  mtime?: number;
  mode?: number;
  parents?: boolean;
}

export interface MoveRequest {
  id: number;
  parentRev: number;
  /** The new path, or the new name inside the folder `toParentId` (follows that folder's moves). */
  toPath?: string;
  toParentId?: number;
  toName?: string;
  overwrite?: boolean;
}

export interface DeleteRequest {
  id: number;
  parentRev: number;
  recursive?: boolean;
  /** [id, rev] of the nodes below that this device deletes with it (see RemoveOp.expect). */
  expect?: [number, number][];
}

/**
 * One op of `POST /v1/batch` (docs/PROTOCOL.md, "Batches"): the single route's fields, plus
 * references to earlier ops of the same batch by index — `parentRef` (inside the folder op #i
 * made), `ref` (the node op #i made or changed; `parentRev` may then be left out: the rev the
 * batch left it at) and a move's `toParentRef`.
 */
export type BatchOpRequest =
  | ({ op: 'mkdir'; parentRef?: number } & MkdirRequest)
  | ({
      op: 'commit';
      ref?: number;
      parentRef?: number;
      /** Content up to MAX_INLINE_SIZE sent in the request; `blocks` and `size` are then derived. */
      inline?: Buffer;
    } & Omit<CommitRequest, 'parentRev' | 'blocks' | 'size'> &
      Partial<Pick<CommitRequest, 'parentRev' | 'blocks' | 'size'>>)
  | ({ op: 'move'; ref?: number; toParentRef?: number; path?: string } & Omit<
      MoveRequest,
      'id' | 'parentRev'
    > &
      Partial<Pick<MoveRequest, 'id' | 'parentRev'>>)
  | ({ op: 'delete'; ref?: number; path?: string } & Omit<DeleteRequest, 'id' | 'parentRev'> &
      Partial<Pick<DeleteRequest, 'id' | 'parentRev'>>);

/** What one op of a batch did: the single route's answer, or its error (code, message, details). */
export type BatchOpResult =
  | { ok: true; rev: number; node?: Revision; deleted?: Revision[]; kept?: Revision[] }
  | { ok: false; error: LoftError };

export interface WhoAmI {
  user: string;
  device: string;
  ns: number;
  rootId: number;
  /** The installation's id (servers from before it was reported leave it out). */
  installation?: string;
}

interface SendOptions {
  /** Instead of the client's per-request timeout (ms). */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** A block download rarely takes long; a stalled one is retried rather than waited on forever. */
const DEFAULT_TIMEOUT_MS = 30_000;

export class RemoteClient {
  readonly url: string;
  readonly #token: string;
  readonly #agent: Agent | null;
  readonly #transport: Transport;
  readonly #timeoutMs: number;

  constructor(options: RemoteOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (options.transport) {
      this.#agent = null;
      this.#transport = options.transport;
    } else {
      const agent = new Agent({
        connections: options.connections ?? 16,
        keepAliveTimeout: 30_000,
        connectTimeout: 5_000,
        ...(options.ca ? { connect: { ca: [...rootCertificates, options.ca] } } : {}),
      });
      this.#agent = agent;
      this.#transport = (req) => undiciSend(agent, req);
    }
  }

  async close(): Promise<void> {
    await this.#agent?.close();
  }

  /**
   * Any JSON route (the CLI's verbs: history, restore, links, devices, search): the answer parsed,
   * or the server's error as a LoftError with its code and details.
   */
  call<T>(method: 'GET' | 'POST', route: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return this.#json(method, route, body, signal);
  }

  whoami(signal?: AbortSignal): Promise<WhoAmI> {
    return this.#json('GET', '/v1/whoami', undefined, signal);
  }

  changes(cursor: string, limit: number, signal?: AbortSignal): Promise<ChangesPage> {
    return this.#json(
      'GET',
      `/v1/changes?cursor=${encodeURIComponent(cursor)}&limit=${limit}`,
      undefined,
      signal,
    );
  }

  /** Long-poll: answers as soon as anything newer than `cursor` exists, or after `timeoutS`. */
  waitChanges(cursor: string, timeoutS: number, signal?: AbortSignal): Promise<ChangesPage> {
    return this.#json(
      'GET',
      `/v1/changes/wait?cursor=${encodeURIComponent(cursor)}&timeout=${timeoutS}`,
      undefined,
      signal,
      { timeoutMs: (timeoutS + 15) * 1000 },
    );
  }

  node(path: string, signal?: AbortSignal): Promise<Revision> {
    return this.#json('GET', `/v1/node?path=${encodeURIComponent(path)}`, undefined, signal);
  }

  /** Live children of a directory. */
  async list(id: number, signal?: AbortSignal): Promise<Revision[]> {
    return (await this.#json<{ entries: Revision[] }>('GET', `/v1/list?id=${id}`, undefined, signal)).entries;
  }

  /** One page of the namespace's live tree: nodes with ids above `after`, by id. */
  tree(after: number, limit: number, signal?: AbortSignal): Promise<TreePageBody> {
    return this.#json('GET', `/v1/tree?after=${after}&limit=${limit}`, undefined, signal);
  }

  /** A page of the live tree of namespace `ns` (a shared folder this user mounts). */
  treeOf(ns: number, after: number, limit: number, signal?: AbortSignal): Promise<TreePageBody> {
    return this.#json('GET', `/v1/tree?ns=${ns}&after=${after}&limit=${limit}`, undefined, signal);
  }

  /** The shared folders this user mounts (owned and joined): namespace and path in their tree. */
  async shares(signal?: AbortSignal): Promise<{ ns: number; path: string }[]> {
    return (
      await this.#json<{ shares: { ns: number; path: string }[] }>('GET', '/v1/shares', undefined, signal)
    ).shares;
  }

  nodeById(id: number, signal?: AbortSignal): Promise<Revision> {
    return this.#json('GET', `/v1/node?id=${id}`, undefined, signal);
  }

  mkdir(req: MkdirRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }> {
    return this.#json('POST', '/v1/mkdir', req, signal);
  }

  move(req: MoveRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }> {
    return this.#json('POST', '/v1/move', req, signal);
  }

  delete(
    req: DeleteRequest,
    signal?: AbortSignal,
  ): Promise<{ rev: number; deleted: Revision[]; kept?: Revision[] }> {
    return this.#json('POST', '/v1/delete', req, signal);
  }

  /** Of `hashes`, those this user must send before committing them. */
  async missingBlocks(hashes: string[], signal?: AbortSignal): Promise<string[]> {
    const r = await this.#json<{ missing: string[] }>('POST', '/v1/blocks/missing', { hashes }, signal);
    return r.missing;
  }

  /** Uploads one block (the server verifies it against its hash). */
  async putBlock(hash: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    const res = await this.#send('PUT', `/v1/blocks/${hash}`, data, signal);
    const raw = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode >= 300) throw errorFrom(res.statusCode, raw);
  }

  /** Commits a file revision; a stale parentRev throws CONFLICT with `details.currentRev`. */
  commit(req: CommitRequest, signal?: AbortSignal): Promise<{ rev: number; node: Revision }> {
    return this.#json('POST', '/v1/commit', req, signal);
  }

  /**
   * Sends many tree changes as one request (one transaction on the server, one wake-up of other
   * devices). Each op succeeds or fails on its own; the results come back in order. A request the
   * server refuses as a whole (malformed op, too many, too large) throws like any other call.
   */
  async batch(ops: readonly BatchOpRequest[], signal?: AbortSignal): Promise<BatchOpResult[]> {
    const wire = ops.map((op) => {
      if (op.op !== 'commit' || op.inline === undefined) return op;
      const { inline, ...rest } = op;
      const block = { hash: sha256hex(inline), size: inline.length };
      return { ...rest, blocks: [block], size: inline.length, inline: inline.toString('base64') };
    });
    const r = await this.#json<{ results: ({ error: ErrorBody['error'] } | Record<string, unknown>)[] }>(
      'POST',
      '/v1/batch',
      { ops: wire },
      signal,
    );
    return r.results.map((x): BatchOpResult => {
      if (!('error' in x)) return { ok: true, ...(x as { rev: number }) };
      const { code, message, ...details } = x.error as ErrorBody['error'];
      return {
        ok: false,
        error: new LoftError(code as ErrorCode, message, {
          details: { ...details, status: httpStatus(code as ErrorCode) },
        }),
      };
    });
  }

  /** Downloads one block's bytes (not verified here: the caller checks the hash). */
  async getBlock(hash: string, signal?: AbortSignal): Promise<Buffer> {
    const res = await this.#getBytes(hash, {}, signal);
    if (res.statusCode !== 200) throw errorFrom(res.statusCode, res.body);
    return res.body;
  }

  /**
   * Downloads bytes [start, end) of one block with the hash of each piece they cover (not verified
   * here). A server that ignores the range answers the whole block: `whole` is then true.
   */
  async getBlockRange(
    hash: string,
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<BlockRangeAnswer> {
    const res = await this.#getBytes(hash, { range: `bytes=${start}-${end - 1}` }, signal);
    const body = res.body;
    if (res.statusCode === 200) return { data: body, pieces: null, whole: true };
    if (res.statusCode !== 206) throw errorFrom(res.statusCode, body);
    const header = res.headers[PIECE_HASHES_HEADER];
    const pieces = typeof header === 'string' && header !== '' ? header.split(',') : null;
    const got = /^bytes (\d+)-(\d+)\/\d+$/.exec(String(res.headers['content-range']));
    if (!got || Number(got[1]) !== start || Number(got[2]) + 1 - start !== body.length)
      throw new LoftError('CORRUPT', `block ${hash}: asked for bytes ${start}-${end - 1}, got another range`);
    return { data: body, pieces, whole: false };
  }

  /**
   * GET of a block's bytes. On undici (no transport given) through its dispatch API: the answer's
   * chunks are collected as they arrive, without the Readable stream `request` wraps them in and
   * its async iterator (measured against `loft serve` on loopback, 64 KiB ranges, warm: 1.3-1.4 ms
   * a request instead of 1.6-1.8 ms). A broken-off answer is UNAVAILABLE, as in #send.
   */
  async #getBytes(
    hash: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<{ statusCode: number; headers: TransportResponse['headers']; body: Buffer }> {
    const path = `/v1/blocks/${hash}`;
    if (!this.#agent) {
      const res = await this.#send('GET', path, undefined, signal, { headers });
      return { statusCode: res.statusCode, headers: res.headers, body: await readBody(res, hash, signal) };
    }
    try {
      return await dispatchGet(
        this.#agent,
        new URL(this.url + path),
        { ...headers, authorization: `Bearer ${this.#token}` },
        signal,
        this.#timeoutMs,
      );
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw new LoftError(
        'UNAVAILABLE',
        `download of block ${hash} from ${this.url} failed: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  }

  async #json<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal?: AbortSignal,
    options?: SendOptions,
  ): Promise<T> {
    const res = await this.#send(method, path, body, signal, options);
    let raw: Buffer;
    try {
      raw = Buffer.from(await res.body.arrayBuffer());
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw new LoftError('UNAVAILABLE', `answer from ${this.url} broke off: ${(cause as Error).message}`, {
        cause,
      });
    }
    if (res.statusCode >= 300) throw errorFrom(res.statusCode, raw);
    return JSON.parse(raw.toString('utf8')) as T;
  }

  async #send(
    method: 'GET' | 'POST' | 'PUT',
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
    options: SendOptions = {},
  ): Promise<TransportResponse> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const headers: Record<string, string> = { ...options.headers, authorization: `Bearer ${this.#token}` };
    let payload: string | Buffer | undefined;
    if (Buffer.isBuffer(body)) {
      headers['content-type'] = 'application/octet-stream';
      payload = body;
    } else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    try {
      return await this.#transport({
        method,
        url: this.url + path,
        headers,
        body: payload,
        signal,
        timeoutMs,
      });
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw new LoftError('UNAVAILABLE', `cannot reach ${this.url}: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
}

/** The default transport: undici, with the caller's signal and a per-request timeout. */
async function undiciSend(agent: Dispatcher, req: TransportRequest): Promise<TransportResponse> {
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  return request(req.url, {
    method: req.method,
    headers: req.headers,
    body: req.body,
    dispatcher: agent,
    signal,
    headersTimeout: req.timeoutMs,
    bodyTimeout: req.timeoutMs,
  });
}

/**
 * One GET on undici's dispatch API (see RemoteClient.#getBytes): status, headers and the whole
 * body, its chunks copied once into one buffer. Rejects on a network failure, a timeout (no headers
 * or no body bytes for `timeoutMs`) or when `signal` aborts.
 */
function dispatchGet(
  agent: Dispatcher,
  url: URL,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<{ statusCode: number; headers: TransportResponse['headers']; body: Buffer }> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const chunks: Buffer[] = [];
    let size = 0;
    let statusCode = 0;
    let resHeaders: TransportResponse['headers'] = {};
    let controller: Dispatcher.DispatchController | null = null;
    let done = false;
    const onAbort = () => controller?.abort(signal!.reason as Error);
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else
        resolve({
          statusCode,
          headers: resHeaders,
          body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
        });
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    agent.dispatch(
      {
        origin: url.origin,
        path: url.pathname + url.search,
        method: 'GET',
        headers,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      },
      {
        onRequestStart(c) {
          controller = c;
          if (signal?.aborted) c.abort(signal.reason as Error);
        },
        onResponseStart(_c, status, h) {
          statusCode = status;
          resHeaders = h;
        },
        onResponseData(_c, chunk) {
          chunks.push(chunk);
          size += chunk.length;
        },
        onResponseEnd: () => finish(null),
        onResponseError: (_c, err) => finish(err),
      },
    );
  });
}

/** A block download's body: the chunks collected, then copied once into one buffer. */
async function readBody(res: TransportResponse, hash: string, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of res.body) {
      chunks.push(c as Buffer);
      size += (c as Buffer).length;
    }
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw new LoftError('UNAVAILABLE', `download of block ${hash} broke off: ${(cause as Error).message}`, {
      cause,
    });
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** What `loft status` and the log say when the server refuses this device's token. */
export const TOKEN_REFUSED =
  'the server refused this device\'s token (revoked or expired): working offline, local changes kept; mount again with a new token ("loft user token")';

function errorFrom(status: number, raw: Buffer): LoftError {
  if (status === 401) {
    let serverMessage = 'unauthorized';
    try {
      serverMessage = (JSON.parse(raw.toString('utf8')) as ErrorBody).error.message ?? serverMessage;
    } catch {
      // not JSON: keep the default
    }
    return new LoftError('UNAUTHORIZED', TOKEN_REFUSED, { details: { status, serverMessage } });
  }
  try {
    const body = JSON.parse(raw.toString('utf8')) as {
      error?: { code?: string; message?: string } & Record<string, unknown>;
    };
    if (body.error?.code) {
      const { code, message, ...details } = body.error;
      return new LoftError(code as ErrorCode, message ?? `HTTP ${status}`, {
        details: { ...details, status },
      });
    }
  } catch {
    // not JSON: fall through
  }
  const code: ErrorCode = status >= 500 ? 'UNAVAILABLE' : 'BAD_REQUEST';
  return new LoftError(code, `server answered HTTP ${status}`, { details: { status } });
}
