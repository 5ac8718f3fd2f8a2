// The page's HTTP client: the same /v1 API the drive uses, authenticated by the session cookie,
// with the CSRF token on every request that changes something.

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export async function api(method, route, body, { signal } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-loft-csrf'] = csrf;
  let res;
  try {
    res = await fetch(route, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'OFFLINE', 'cannot reach the server');
  }
  const text = await res.text();
  let parsed;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const e = parsed?.error ?? {};
    throw new ApiError(res.status, e.code ?? 'INTERNAL', e.message ?? `server answered ${res.status}`, e);
  }
  return parsed;
}

/** PUT one block's bytes (a Blob slice of the file: the browser streams it from disk). */
export async function putBlock(hash, blob) {
  let res;
  try {
    res = await fetch(`/v1/blocks/${hash}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-loft-csrf': csrf },
      body: blob,
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'OFFLINE', 'connection lost while sending a block');
  }
  if (!res.ok) {
    const e = (await res.json().catch(() => ({}))).error ?? {};
    throw new ApiError(res.status, e.code ?? 'INTERNAL', e.message ?? `server answered ${res.status}`, e);
  }
}

export const q = encodeURIComponent;

export function fileUrl(path, { rev, download } = {}) {
  let u = `/v1/web/file?path=${q(path)}`;
  if (rev !== undefined) u += `&rev=${rev}`;
  if (download) u += '&download=1';
  return u;
}
