/**
 * `loft status`: the uploads line says when queued changes are held while a burst of them runs; the
 * fuse line whether new files are written by the kernel itself.
 */
import t from 'tap';
import type { DriveStatus } from '../../../src/client/client.js';
import { LINGER_MAX_MS } from '../../../src/client/sync/linger.js';
import { render } from '../../../src/cli/commands/status.js';

function status(over: Partial<DriveStatus>): DriveStatus {
  return {
    mountpoint: '/mnt/loft',
    user: 'ann',
    server: 'http://127.0.0.1:1',
    online: true,
    files: 3,
    synced: true,
    cache: { usedBytes: 0, capBytes: 1024, blocks: 0, writing: 0 },
    downloads: { blocks: 0, bytes: 0 },
    downloadedBytes: 0,
    pins: { files: 0, cachedBytes: 0, totalBytes: 0 },
    pending: 0,
    uploading: 0,
    uploadedBytes: 0,
    dirtyFiles: 0,
    uploads: [],
    queue: [],
    pushError: null,
    stuck: [],
    blocked: false,
    holding: false,
    conflicts: [],
    ...over,
  } as unknown as DriveStatus;
}

const uploads = (s: DriveStatus) =>
  render(s)
    .split('\n')
    .find((l) => l.startsWith('  uploads:'))!;

t.test('held changes are said to be held; others are not', async (t) => {
  t.match(uploads(status({})), /nothing pending/);
  t.match(uploads(status({ pending: 40, uploading: 0 })), /^ {2}uploads: {3}40 pending, 0 uploading/);
  t.match(
    uploads(status({ pending: 40, holding: true })),
    `40 pending (held while a burst of changes runs, up to ${LINGER_MAX_MS / 1000} s), 0 uploading`,
  );
});

t.test('the fuse line says when the kernel writes new files itself (passthrough)', async (t) => {
  const fuse = (f: Record<string, unknown>) =>
    render(status({ fuse: { backend: 'lowlevel', why: 'default', allowOther: false, ...f } } as never))
      .split('\n')
      .find((l) => l.startsWith('  fuse:'))!;
  t.equal(
    fuse({ passthrough: true, passthroughFiles: 12 }),
    '  fuse:      lowlevel (default), new files written by the kernel (passthrough: 12 so far)',
  );
  t.equal(fuse({ passthrough: false, passthroughFiles: 0 }), '  fuse:      lowlevel (default)');
});
