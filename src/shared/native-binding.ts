/**
 * Where Loft's native binding (native/, `loft_fuse.node`) is built, and its exports for the parts
 * that only speed things up: the drive's block I/O (client/hydrate/block-io.ts), its chunker
 * (client/chunk/cdc.ts), and the server's block hashing and file steps (blockstore/block-body.ts,
 * block-flusher.ts). Each has a
 * JavaScript fallback, used where the binding is not built or does not load (no libfuse 3).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** native/build/Release/loft_fuse.node, found from this file in src/ or dist/src/; null if not built. */
export function bindingPath(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'build', 'Release', 'loft_fuse.node');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return null;
}

let loaded: Record<string, unknown> | null | undefined;

/** The binding's exports, or null when it is not built or does not load here (never throws). */
export function optionalBinding(): Record<string, unknown> | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const file = bindingPath();
  if (!file) return loaded;
  try {
    loaded = createRequire(import.meta.url)(file) as Record<string, unknown>;
  } catch {
    // Not loadable here (no libfuse 3): the callers' fallbacks.
  }
  return loaded;
}
