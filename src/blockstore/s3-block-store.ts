/**
 * BlockStore on an S3-compatible object store: one object per block, key `<prefix><hash>`, its body
 * the same encoding as on local disk (block-codec.ts: header, piece table, raw or brotli payload).
 *
 * - put is atomic and put-if-absent: S3 makes an object visible whole or not at all, and the PUT
 *   carries `If-None-Match: *`, so of concurrent puts of one block exactly one reports `created`
 *   (the others get 412 Precondition Failed: already there). Needs a server that honours it
 *   (AWS S3 since 2024, Ceph RGW, MinIO).
 * - getRange reads the block's head (header + piece table, at most MAX_HEAD_SIZE bytes) with one
 *   ranged GET, then only the range's bytes with a second one when the block is stored raw: a
 *   64 KiB piece read of a 4 MiB block moves ~68 KiB. A compressed block is read whole.
 * - list pages through ListObjectsV2 under the prefix; GC's safety does not depend on the store
 *   (garbage-collector.ts: records, claims and the grace live in the metadata store).
 *
 * Credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for
 * temporary ones, AWS_SESSION_TOKEN), never from the URL or a command line. The S3 calls
 * themselves are in s3-client.ts (why not the AWS SDK: there).
 */
import { LoftError } from '../shared/errors.js';
import { assertHash, isPieceAligned, PIECE_SIZE, sha256hex } from '../shared/hash.js';
import { MAX_BLOCK_SIZE } from '../shared/protocol.js';
import {
  decodeBlock,
  encodeBlock,
  MAX_HEAD_SIZE,
  parseHead,
  RAW,
  tablePieces,
  type Compression,
} from './block-codec.js';
import {
  clampRange,
  rangeOf,
  type BlockRange,
  type BlockStore,
  type PutResult,
  checkBlock,
} from './block-store.js';
import { errorOf, S3Client, S3Error, xmlText, xmlTexts, type S3Credentials } from './s3-client.js';

/** Where the blocks are: parsed from `s3://BUCKET[/PREFIX]?endpoint=URL&region=R`. */
export interface S3Location {
  bucket: string;
  /** Key prefix, empty or ending in "/". */
  prefix: string;
  /** Undefined: AWS itself. */
  endpoint: string | undefined;
  region: string;
}

const DEFAULT_REGION = 'us-east-1';
/**
 * Concurrent puts of one key on AWS may answer 409 ConditionalRequestConflict while another is in
 * flight: retried this many times, CONFLICT_RETRY_MS apart (a block PUT takes well under a second).
 */
const CONFLICT_RETRIES = 5;
const CONFLICT_RETRY_MS = 200;

/** Parses `--blocks s3://…`; a clear error for anything else (and for credentials in the URL). */
export function parseS3Url(text: string): S3Location {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new LoftError(
      'BAD_REQUEST',
      // (What stands before an @ is not shown: it may be a secret.)
      `--blocks wants s3://BUCKET?endpoint=URL&region=R, got ${JSON.stringify(text.replace(/^[^@]*@/, '…@'))}`,
    );
  }
  if (url.protocol !== 's3:')
    throw new LoftError('BAD_REQUEST', `--blocks must be s3://BUCKET…, got ${url.protocol}//…`);
  if (url.username || url.password)
    throw new LoftError(
      'BAD_REQUEST',
      'no credentials in the --blocks URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment',
    );
  const bucket = url.hostname;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new LoftError('BAD_REQUEST', `--blocks: ${JSON.stringify(bucket)} is not a valid bucket name`);
  let prefix = decodeURIComponent(url.pathname.replace(/^\/+/, ''));
  if (prefix && !prefix.endsWith('/')) prefix += '/';
  let endpoint: string | undefined;
  let region = DEFAULT_REGION;
  for (const [key, value] of url.searchParams) {
    if (key === 'endpoint') {
      let e: URL;
      try {
        e = new URL(value);
      } catch {
        throw new LoftError('BAD_REQUEST', `--blocks: endpoint ${JSON.stringify(value)} is not a URL`);
      }
      if (e.protocol !== 'http:' && e.protocol !== 'https:')
        throw new LoftError('BAD_REQUEST', '--blocks: endpoint must be http:// or https://');
      if (e.username || e.password)
        throw new LoftError('BAD_REQUEST', 'no credentials in the --blocks endpoint: use the environment');
      endpoint = value;
    } else if (key === 'region') {
      if (!/^[a-z0-9-]{1,40}$/.test(value))
        throw new LoftError('BAD_REQUEST', `--blocks: region ${JSON.stringify(value)} is not valid`);
      region = value;
    } else {
      throw new LoftError(
        'BAD_REQUEST',
        `--blocks: unknown parameter ${JSON.stringify(key)} (endpoint, region)`,
      );
    }
  }
  return { bucket, prefix, endpoint, region };
}

export interface S3BlockStoreOptions {
  location: S3Location;
  compression?: Compression;
  maxBlockSize?: number;
  /** Re-hash every block on get (default true; the server turns it off, as for FsBlockStore). */
  verifyOnGet?: boolean;
  /** Default: from the environment (`credentialsFromEnv`). */
  credentials?: S3Credentials;
  /** Keys per ListObjectsV2 page (default and S3's maximum: 1000; tests page with fewer). */
  listPageSize?: number;
}

export class S3BlockStore implements BlockStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #compression: Compression;
  readonly #maxBlockSize: number;
  readonly #verifyOnGet: boolean;
  readonly #listPageSize: number;

  constructor(options: S3BlockStoreOptions) {
    const { location } = options;
    this.#bucket = location.bucket;
    this.#prefix = location.prefix;
    this.#compression = options.compression ?? 'brotli';
    this.#maxBlockSize = options.maxBlockSize ?? MAX_BLOCK_SIZE;
    this.#verifyOnGet = options.verifyOnGet ?? true;
    this.#listPageSize = options.listPageSize ?? 1000;
    this.#client = new S3Client({
      endpoint: location.endpoint ?? `https://s3.${location.region}.amazonaws.com`,
      region: location.region,
      credentials: options.credentials ?? credentialsFromEnv(),
    });
  }

  /** A store on `location`, after checking that the bucket answers (a clear error if not). */
  static async open(options: S3BlockStoreOptions): Promise<S3BlockStore> {
    const store = new S3BlockStore(options);
    try {
      await store.#client.call('HEAD', store.#bucket, '');
    } catch (err) {
      await store.close();
      const where = options.location.endpoint ?? 'AWS';
      const status = err instanceof S3Error ? err.status : undefined;
      const why =
        status === 404
          ? 'no such bucket'
          : status === 403 || status === 401
            ? 'access denied (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)'
            : oneLine(err);
      throw new LoftError('UNAVAILABLE', `S3 bucket ${options.location.bucket} at ${where}: ${why}`, {
        cause: err,
      });
    }
    return store;
  }

  #key(hash: string): string {
    return this.#prefix + hash;
  }

  async put(hash: string, data: Uint8Array): Promise<PutResult> {
    checkBlock(hash, data, this.#maxBlockSize);
    const body = Buffer.concat(await encodeBlock(data, this.#compression));
    for (let attempt = 0; ; attempt++) {
      let res;
      try {
        res = await this.#client.send('PUT', this.#bucket, this.#key(hash), {
          body,
          headers: { 'If-None-Match': '*' },
        });
      } catch (err) {
        throw storeError('put', hash, err);
      }
      if (res.status >= 200 && res.status < 300) return { created: true, storedSize: body.length };
      if (res.status === 412) return { created: false, storedSize: 0 };
      if (res.status === 409 && attempt < CONFLICT_RETRIES) {
        await new Promise((r) => setTimeout(r, CONFLICT_RETRY_MS));
        continue;
      }
      throw storeError('put', hash, errorOf(res));
    }
  }

  /** The object's bytes [start, end] (inclusive, as HTTP), its total size; null when absent. */
  async #read(hash: string, range?: [number, number]): Promise<{ bytes: Buffer; total: number } | null> {
    let res;
    try {
      res = await this.#client.call('GET', this.#bucket, this.#key(hash), {
        ...(range ? { headers: { Range: `bytes=${range[0]}-${range[1]}` } } : {}),
        expected: [404],
      });
    } catch (err) {
      throw storeError('get', hash, err);
    }
    if (res.status === 404) return null;
    const contentRange = res.headers['content-range'];
    const total =
      res.status === 206 && typeof contentRange === 'string'
        ? Number(/\/(\d+)$/.exec(contentRange)?.[1])
        : res.body.length;
    if (!Number.isSafeInteger(total)) throw new LoftError('CORRUPT', `block ${hash}: bad Content-Range`);
    return { bytes: res.body, total };
  }

  async get(hash: string): Promise<Buffer | null> {
    assertHash(hash);
    const got = await this.#read(hash);
    if (!got) return null;
    const data = await decodeBlock(got.bytes, hash);
    if (this.#verifyOnGet && sha256hex(data) !== hash)
      throw new LoftError('CORRUPT', `block ${hash} no longer matches its hash`);
    return data;
  }

  async getRange(hash: string, start: number, end: number): Promise<BlockRange | null> {
    assertHash(hash);
    const first = await this.#read(hash, [0, MAX_HEAD_SIZE - 1]);
    if (!first) return null;
    const head = parseHead(first.bytes, hash);
    let block: Buffer | null = null;
    if (!(head.codec === RAW && head.pieces)) {
      // Compressed, or version 1 (no table): the whole block, decoded (and checked for version 1).
      const whole = first.total <= first.bytes.length ? first : await this.#read(hash);
      if (!whole) return null;
      block = await decodeBlock(whole.bytes, hash);
    }
    if (!head.pieces) {
      if (sha256hex(block!) !== hash)
        throw new LoftError('CORRUPT', `block ${hash} no longer matches its hash`);
      return rangeOf(block!, start, end);
    }
    const size = block ? block.length : first.total - head.payloadOffset;
    if (size < 0) throw new LoftError('CORRUPT', `block ${hash} is shorter than its header says`);
    const [from, to] = clampRange(size, start, end);
    let data: Buffer;
    if (block) data = block.subarray(from, to);
    else if (to === from) data = Buffer.alloc(0);
    else if (head.payloadOffset + to <= first.bytes.length) {
      data = first.bytes.subarray(head.payloadOffset + from, head.payloadOffset + to); // small block: all read
    } else {
      const got = await this.#read(hash, [head.payloadOffset + from, head.payloadOffset + to - 1]);
      if (!got) return null; // deleted between the two reads
      if (got.bytes.length !== to - from) throw new LoftError('CORRUPT', `block ${hash}: short range read`);
      data = got.bytes;
    }
    let pieces: string[] | null = null;
    if (isPieceAligned(size, from, to)) {
      const firstPiece = from / PIECE_SIZE;
      pieces = tablePieces(head.pieces, firstPiece, Math.ceil(to / PIECE_SIZE) - firstPiece);
      if (!pieces) throw new LoftError('CORRUPT', 'block piece table is too short');
    }
    return { size, data, pieces };
  }

  async has(hash: string): Promise<boolean> {
    assertHash(hash);
    try {
      const res = await this.#client.call('HEAD', this.#bucket, this.#key(hash), { expected: [404] });
      return res.status !== 404;
    } catch (err) {
      throw storeError('head', hash, err);
    }
  }

  async delete(hash: string): Promise<void> {
    assertHash(hash);
    try {
      await this.#client.call('DELETE', this.#bucket, this.#key(hash), { expected: [404] });
    } catch (err) {
      throw storeError('delete', hash, err);
    }
  }

  /**
   * Nothing to do: an S3 PUT is durable when it is acknowledged, and a block is recorded only after
   * its PUT, so no recorded block can be missing for a power loss here.
   */
  async makeDurable(hashes: readonly string[]): Promise<string[]> {
    for (const h of hashes) assertHash(h);
    return [];
  }

  async *list(): AsyncIterable<string> {
    let token: string | undefined;
    do {
      let xml: string;
      try {
        const res = await this.#client.call('GET', this.#bucket, '', {
          query: {
            'list-type': '2',
            'max-keys': String(this.#listPageSize),
            prefix: this.#prefix,
            ...(token ? { 'continuation-token': token } : {}),
          },
        });
        xml = res.body.toString('utf8');
      } catch (err) {
        throw storeError('list', '', err);
      }
      for (const key of xmlTexts(xml, 'Key')) {
        const name = key.slice(this.#prefix.length);
        if (key.startsWith(this.#prefix) && /^[0-9a-f]{64}$/.test(name)) yield name;
      }
      token = xmlText(xml, 'IsTruncated') === 'true' ? xmlText(xml, 'NextContinuationToken') : undefined;
    } while (token);
  }

  async close(): Promise<void> {
    await this.#client.close();
  }
}

/** AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN); a clear error if missing. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): S3Credentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new LoftError(
      'BAD_REQUEST',
      '--blocks s3://… needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment',
    );
  return {
    accessKeyId,
    secretAccessKey,
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
  };
}

function oneLine(err: unknown): string {
  const e = err as { message?: string; code?: string };
  const text = err instanceof S3Error ? err.message : [e.code, e.message].filter(Boolean).join(': ');
  return (text || String(err)).split('\n')[0]!.slice(0, 200);
}

/** A failed store request as a LoftError (UNAVAILABLE: the store may answer again later). */
function storeError(op: string, hash: string, err: unknown): LoftError {
  return new LoftError('UNAVAILABLE', `S3 ${op}${hash ? ' of block ' + hash : ''} failed: ${oneLine(err)}`, {
    cause: err,
  });
}
