/** mulberry32: a tiny, fast, seedable 32-bit PRNG (floats in [0, 1)), so failing seeds reproduce. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeds from "1,2,3" or "1-40" (or both, comma-separated); `fallback` when `spec` is empty. */
export function parseSeeds(spec: string | undefined, fallback: number[] = []): number[] {
  if (!spec) return fallback;
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^(\d+)-(\d+)$/.exec(part.trim());
    if (m) for (let s = Number(m[1]); s <= Number(m[2]); s++) out.push(s);
    else if (part.trim()) out.push(Number(part.trim()));
  }
  return out;
}
