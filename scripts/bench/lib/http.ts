/**
 * One request to Loft's HTTP API as the benches make them (undici, keep-alive through the caller's
 * agent): a JSON or octet-stream body, the answer parsed as JSON, a non-2xx answer thrown with its
 * first 300 characters.
 */
import { request, type Dispatcher } from 'undici';

export type Method = 'GET' | 'PUT' | 'POST';
export interface ApiOptions {
  json?: unknown;
  bytes?: Buffer;
  /** The connection pool (a bench keeps separate ones, e.g. for long-polls). */
  agent?: Dispatcher;
  /** Aborts the request (e.g. a long-poll when the bench stops following the journal). */
  signal?: AbortSignal;
}

export async function apiCall<T = unknown>(
  base: string,
  token: string | null,
  method: Method,
  urlPath: string,
  { json, bytes, agent, signal }: ApiOptions = {},
): Promise<T> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let body: string | Buffer | undefined;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  }
  if (bytes !== undefined) {
    headers['content-type'] = 'application/octet-stream';
    body = bytes;
  }
  const res = await request(base + urlPath, { method, headers, body, dispatcher: agent, signal });
  const text = await res.body.text();
  if (res.statusCode >= 300)
    throw new Error(`${method} ${urlPath} -> ${res.statusCode}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}
