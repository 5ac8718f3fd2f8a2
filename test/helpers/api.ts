/** A small undici wrapper for tests that talk to the HTTP API directly. */
import { request } from 'undici';
import { sha256hex } from '../../src/shared/hash.js';

/** Every error code docs/PROTOCOL.md documents: tests check that answers use only these. */
export const DOCUMENTED_CODES: ReadonlySet<string> = new Set([
  'BAD_REQUEST',
  'BAD_PATH',
  'BAD_HASH',
  'HASH_MISMATCH',
  'BAD_CURSOR',
  'BLOCK_UNUSABLE',
  'FAILED_DEPENDENCY',
  'UNAUTHORIZED',
  'TOO_MANY_REQUESTS',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'EXISTS',
  'NOT_DIR',
  'IS_DIR',
  'NOT_EMPTY',
  'CYCLE',
  'TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNAVAILABLE',
  'QUOTA_EXCEEDED',
  'CROSS_NAMESPACE',
]);

export interface ApiResponse {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  raw: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

export class Api {
  constructor(
    readonly url: string,
    readonly token: string | null,
  ) {}

  async call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload: string | Buffer | undefined;
    if (Buffer.isBuffer(body)) {
      payload = body;
      h['content-type'] ??= 'application/octet-stream';
    } else if (typeof body === 'string') {
      payload = body;
      h['content-type'] ??= 'application/json';
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await request(this.url + path, { method, headers: h, body: payload });
    const raw = Buffer.from(await res.body.arrayBuffer());
    let parsed: unknown = undefined;
    const ct = String(res.headers['content-type'] ?? '');
    if (ct.includes('json') && raw.length) parsed = JSON.parse(raw.toString());
    return { status: res.statusCode, body: parsed, raw, headers: res.headers };
  }

  get(path: string) {
    return this.call('GET', path);
  }

  post(path: string, body: unknown) {
    return this.call('POST', path, body);
  }

  /** Uploads `data` as a block and returns its ref. */
  async putBlock(data: Buffer): Promise<{ hash: string; size: number; status: number }> {
    const hash = sha256hex(data);
    const r = await this.call('PUT', `/v1/blocks/${hash}`, data);
    return { hash, size: data.length, status: r.status };
  }

  /** Uploads the blocks and commits them as the file at `path`; returns the commit response. */
  async writeFile(path: string, chunks: Buffer[], parentRev: number | null = null): Promise<ApiResponse> {
    const blocks = [];
    for (const c of chunks) {
      const b = await this.putBlock(c);
      blocks.push({ hash: b.hash, size: b.size });
    }
    const size = chunks.reduce((n, c) => n + c.length, 0);
    return this.post('/v1/commit', { path, parentRev, blocks, size, mtime: Date.now(), mode: 0o644 });
  }
}
