import type { Mirror } from '../mirror/mirror.js';
import type { PushRemote } from './push-options.js';

/**
 * Fetches what a server folder (by server id) holds, the whole subtree, into the mirror. Callers
 * hold the SyncLock, so no journal entry is applied between a listing and its merge (a listing
 * answered after a journal delete would bring the deleted entry back: seed 65064).
 */
export async function mergeTree(
  remote: Pick<PushRemote, 'list'>,
  mirror: Pick<Mirror, 'mergeRemote'>,
  serverDirId: number,
  signal?: AbortSignal,
): Promise<void> {
  const entries = await remote.list(serverDirId, signal);
  mirror.mergeRemote(entries);
  for (const e of entries) if (e.kind === 'dir') await mergeTree(remote, mirror, e.id, signal);
}
