// FastCDC in the page: the same fastcdc-wasm module and the SAME parameters as the drive
// (src/client/chunk/streaming-chunker.ts, DEFAULT_CHUNK_PARAMS), so a file uploaded here is cut
// into the same blocks as on a drive, and blocks the server already has are not sent again.
// The streaming rule is the drive's too: a chunk is final only when `max` bytes follow its start
// in the window, or the input has ended (boundaries identical to chunking the whole file at once).

export const CHUNK_PARAMS = { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 };

let wasm = null;

/** Loads fastcdc_wasm_bg.wasm (served by `loft serve` from the npm package). */
export async function loadChunker() {
  if (wasm) return;
  const res = await fetch('/assets/fastcdc_wasm_bg.wasm');
  if (!res.ok) throw new Error(`cannot load the chunker (${res.status})`);
  const { instance } = await WebAssembly.instantiate(await res.arrayBuffer(), {});
  wasm = instance.exports;
}

/** Chunk start offsets of one buffer (fastcdc-wasm's get_chunks, called as its wasm-bindgen glue does). */
function getChunks(bytes, p) {
  const retptr = wasm.__wbindgen_add_to_stack_pointer(-16);
  const ptr = wasm.__wbindgen_malloc(bytes.length);
  try {
    new Uint8Array(wasm.memory.buffer).set(bytes, ptr);
    wasm.get_chunks(retptr, ptr, bytes.length, p.min, p.avg, p.max);
    const i32 = new Int32Array(wasm.memory.buffer);
    const r0 = i32[retptr / 4];
    const r1 = i32[retptr / 4 + 1];
    const out = new Uint32Array(wasm.memory.buffer).slice(r0 / 4, r0 / 4 + r1);
    wasm.__wbindgen_free(r0, r1 * 4);
    return out;
  } finally {
    wasm.__wbindgen_add_to_stack_pointer(16);
    wasm.__wbindgen_free(ptr, bytes.length);
  }
}

function chunkStarts(buf, p) {
  if (buf.length === 0) return [];
  const out = [];
  for (const s of getChunks(buf, p)) if (s < buf.length) out.push(s);
  return out;
}

export class StreamingChunker {
  constructor(p = CHUNK_PARAMS) {
    this.p = p;
    this.pending = new Uint8Array(0);
    this.base = 0;
  }

  /** Feeds bytes; returns the chunks ({offset, data}) that became final. */
  push(data) {
    if (data.length === 0) return [];
    const joined = new Uint8Array(this.pending.length + data.length);
    joined.set(this.pending, 0);
    joined.set(data, this.pending.length);
    this.pending = joined;
    if (this.pending.length < this.p.max * 2) return [];
    return this.cut(false);
  }

  end() {
    return this.cut(true);
  }

  cut(final) {
    const buf = this.pending;
    if (buf.length === 0) return [];
    const starts = chunkStarts(buf, this.p);
    const out = [];
    let keepFrom = buf.length;
    for (let i = 0; i < starts.length; i++) {
      const s = starts[i];
      const e = i + 1 < starts.length ? starts[i + 1] : buf.length;
      if (!final && s + this.p.max > buf.length) {
        keepFrom = s;
        break;
      }
      out.push({ offset: this.base + s, data: buf.subarray(s, e) });
    }
    if (final) keepFrom = buf.length;
    this.pending = buf.slice(keepFrom);
    this.base += keepFrom;
    return out;
  }
}
