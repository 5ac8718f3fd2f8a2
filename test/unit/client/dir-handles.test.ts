/**
 * When the kernel may keep its cached listing of a folder (fuse/dir-handles.ts): only while every
 * listing served since its last drop had the folder's current stamp, and for less than keepMs.
 */
import t from 'tap';
import { DirHandles } from '../../../src/client/fuse/dir-handles.js';
import { OPEN_CACHE_DIR, OPEN_KEEP_CACHE } from '../../../src/client/fuse/lowlevel-binding.js';
import type { ListingStamp } from '../../../src/client/vfs/vfs.js';

const KEEP_MS = 8_000;

function setup() {
  let now = 1_000;
  let stamp: ListingStamp = { key: 7, version: 1 };
  let listings = 0;
  const vfs = {
    listingStamp: () => stamp,
    list: () => (listings++, { names: ['.', '..', 'a'], modes: [0o40755, 0o40755, 0o100644] }),
    readdir: (): never => {
      throw new Error('plain listings only here');
    },
  };
  const d = new DirHandles(() => now, KEEP_MS);
  /** opendir of node 5 + (optionally) a readdir from offset 0; whether the kernel may keep its cache. */
  const open = (list = true) => {
    const { fh, flags } = d.open(5, stamp);
    t.ok(flags & OPEN_CACHE_DIR, 'every opendir asks the kernel to cache the listing');
    if (list) d.listing(vfs, '/d', fh, 0, false);
    d.release(fh);
    return (flags & OPEN_KEEP_CACHE) !== 0;
  };
  return {
    d,
    vfs,
    open,
    tick: (ms: number) => (now += ms),
    setStamp: (s: ListingStamp) => (stamp = s),
    get listings() {
      return listings;
    },
  };
}

t.test('a listing served is kept while its stamp holds and it is young', async (t) => {
  const s = setup();
  t.notOk(s.open(), 'first open: nothing was served, nothing to keep');
  t.ok(s.open(), 'same stamp, just served: kept');
  s.tick(KEEP_MS - 1);
  t.ok(s.open(false), 'still young: kept');
  s.tick(1);
  t.notOk(s.open(), 'as old as keepMs: dropped (its attributes are expiring) and listed again');
  t.ok(s.open(false), 'the new listing is kept');
});

t.test('a new stamp (a remote change) drops the cache', async (t) => {
  const s = setup();
  s.open();
  s.setStamp({ key: 7, version: 2 });
  t.notOk(s.open(), 'version moved: dropped, and the listing served again');
  t.ok(s.open(), 'then kept at the new version');
  s.setStamp({ key: 8, version: 2 });
  t.notOk(s.open(), 'another folder now behind the node: dropped');
});

t.test('listings of two stamps served without a drop between: unknown which the kernel holds', async (t) => {
  const s = setup();
  const a = s.d.open(5, { key: 7, version: 1 }).fh;
  s.d.listing(s.vfs, '/d', a, 0, false); // stamp 1 starts filling the kernel's cache
  s.setStamp({ key: 7, version: 2 });
  const b = s.d.open(5, { key: 7, version: 2 }); // not kept: the record is of version 1
  t.notOk(b.flags & OPEN_KEEP_CACHE);
  s.d.listing(s.vfs, '/d', a, 0, false); // handle a rewinds: version 2 now
  s.d.listing(s.vfs, '/d', b.fh, 0, false);
  // A handle opened before b's drop may still fill the kernel's cache from version 1: a record
  // made after the drop must not vouch for it. Here both listings after the drop are version 2.
  t.ok(s.open(false), 'one stamp since the drop: kept');
  s.setStamp({ key: 7, version: 3 });
  s.d.listing(s.vfs, '/d', a, 0, false); // version 3 served without an open between
  s.setStamp({ key: 7, version: 2 });
  t.notOk(s.open(), 'versions 2 and 3 both served: dropped even though the stamp is 2 again');
});

t.test(
  'later offsets of a handle index into its listing; a new handle at an offset lists once',
  async (t) => {
    const s = setup();
    const { fh } = s.d.open(5, { key: 7, version: 1 });
    const first = s.d.listing(s.vfs, '/d', fh, 0, false);
    t.equal(s.d.listing(s.vfs, '/d', fh, 2, false), first, 'offset 2: the same listing');
    t.equal(s.listings, 1);
    const other = s.d.open(5, { key: 7, version: 1 }).fh;
    s.d.listing(s.vfs, '/d', other, 2, false);
    t.equal(s.listings, 2, 'a handle reading on from the kernel’s cache gets a listing of its own');
    t.ok(s.open(false), 'and that listing (not from offset 0) does not count as served: still kept');
  },
);
