// Builds fuse-native from source with project-owned changes; the first is a native fast path for
// getxattr.
//
// Why: `ls -l` asks every file for security.selinux and system.posix_acl_access. The kernel never
// caches the answers, and stops asking only if getxattr is not implemented at all — which Loft
// cannot do, since it serves user.loft.* attributes. Stock fuse-native sends each of those requests
// to the JavaScript thread: two round trips per file on every `ls -l` (measured: 1.5 s instead of
// 76 ms for a repeat `ls -l` of 10,000 files, scripts/bench/drive.mjs). Answered in C, non-"user."
// names cost no round trip. They are answered EOPNOTSUPP (LOFT_XATTR_NOTSUP), not ENODATA: GNU ls
// (getfilecon_cache, file_has_acl_cache in ls.c) remembers a device that answered "not supported"
// and stops asking for the rest of the listing, so `ls -l` of N files makes 2 such syscalls, not
// 2N (strace -c, 10,000 files: 20,003 -> 3). Loft has no SELinux labels, ACLs or trusted.*
// attributes, so "not supported" is the true answer.
//
// Second change (LOFT_UTIMENS): stock utimens passes atime twice (mtime is lost) and turns
// UTIME_NOW / UTIME_OMIT into nonsense times. Patched, it passes both times, resolves UTIME_NOW to
// the current time and passes UTIME_OMIT as 2^48-1 (FUSE_TIME_OMIT in src/client/fuse/fuse-mount.ts).
// It also sets libfuse's flag_utime_omit_ok: without it libfuse 2.9 drops a setattr that changes
// only one of the two times (`touch -m`, `touch -a`) without calling utimens at all.
//
// Third change (LOFT_OPEN_FLAGS): open and create may set the kernel's caching of the new handle.
// The handle number JavaScript returns carries two flags above its low 29 bits: bit 30 asks for
// direct_io (reads and writes of this handle bypass the page cache), bit 29 for keep_cache (the
// kernel keeps the file's cached pages); without bit 29 the kernel drops them. Loft uses this
// instead of libfuse's auto_cache to keep a file's revision for handles opened before a remote
// change (src/client/vfs/vfs.ts cacheMode). The binding exports loft_open_flags = 1 so the
// JavaScript side knows it may set the bits.
//
// Fourth change (LOFT_NOTIFY): kernel cache invalidation. libfuse 2.9's high-level API has none
// (its fuse_invalidate is a stub), but the low-level notifications work on the high-level
// library's channel: loft_notify_inval(thread, ino, name) drops the kernel's cached entry `name` in
// directory node `ino` (with everything cached below it, and the directory's attributes), or with
// name null the attributes of node `ino`. Node ids are what the kernel reports as st_ino (libfuse
// replaces the filesystem's st_ino with its node id unless use_ino is set), so JavaScript finds a
// path's id with lstat. The write to /dev/fuse runs on the libuv pool, never on the JavaScript
// thread: the kernel may wait there for a lock held by a request that JavaScript must answer first.
// A read-write lock keeps the channel alive while a notification uses it (the FUSE thread destroys
// it when the loop ends, also on an external unmount). Loft invalidates what a remote change
// touched (src/client/fuse/kernel-cache.ts), so the kernel may keep attributes for long.
//
// Idempotent: does nothing when the installed binding already carries every change. If the build
// fails, the stock prebuilt binding stays (same behaviour, slower `ls -l`) and this exits 0 with a
// warning, so a machine without a compiler can still run Loft.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const dir = path.dirname(require.resolve('fuse-native/package.json'));
const source = path.join(dir, 'fuse-native.c');
const built = path.join(dir, 'build', 'Release', 'fuse.node');
const MARKER = 'LOFT_XATTR_FASTPATH';

const NOTSUP_MARKER = 'LOFT_XATTR_NOTSUP';
const UTIMENS_MARKER = 'LOFT_UTIMENS';
const OPEN_FLAGS_MARKER = 'LOFT_OPEN_FLAGS';
const NOTIFY_MARKER = 'LOFT_NOTIFY';

let c = readFileSync(source, 'utf8');
const OMIT_FLAG = 'ops.flag_utime_omit_ok = 1;';
if (
  c.includes(MARKER) &&
  c.includes(NOTSUP_MARKER) &&
  c.includes(UTIMENS_MARKER) &&
  c.includes(OMIT_FLAG) &&
  c.includes(OPEN_FLAGS_MARKER) &&
  c.includes(NOTIFY_MARKER) &&
  existsSync(built)
)
  process.exit(0);

if (!c.includes(MARKER)) {
  const fastpath = `
// ${MARKER}: only "user." attributes go to JavaScript (see loft native/patch-fuse-native.mjs).
static int loft_getxattr (const char *path, const char *name, char *value, size_t size) {
  if (strncmp(name, "user.", 5) != 0) return -EOPNOTSUPP; /* ${NOTSUP_MARKER} */
  return fuse_native_getxattr(path, name, value, size);
}
`;
  const anchor = 'NAPI_METHOD(fuse_native_mount)';
  const assign = 'if (implemented[op_getxattr]) ops.getxattr = fuse_native_getxattr;';
  if (!c.includes(anchor) || !c.includes(assign)) {
    console.warn('loft: fuse-native source is not the expected 2.2.x; keeping the stock binding');
    process.exit(0);
  }
  c = c
    .replace(anchor, fastpath + anchor)
    .replace(assign, 'if (implemented[op_getxattr]) ops.getxattr = loft_getxattr;');
  if (!c.includes('#include <errno.h>'))
    c = c.replace('#include <string.h>', '#include <string.h>\n#include <errno.h>');
  writeFileSync(source, c);
}

if (!c.includes(NOTSUP_MARKER)) {
  // A source patched before LOFT_XATTR_NOTSUP answered ENODATA: upgrade it in place.
  const before = '  if (strncmp(name, "user.", 5) != 0) return -ENODATA;';
  if (c.includes(before)) {
    c = c.replace(before, `  if (strncmp(name, "user.", 5) != 0) return -EOPNOTSUPP; /* ${NOTSUP_MARKER} */`);
    writeFileSync(source, c);
  }
}

if (!c.includes(UTIMENS_MARKER)) {
  const helper = `
// ${UTIMENS_MARKER}: both times, UTIME_NOW resolved, UTIME_OMIT as 2^48-1 (see loft native/patch-fuse-native.mjs).
static uint64_t loft_time (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_OMIT) return 281474976710655ULL;
  if (ts->tv_nsec == UTIME_NOW) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ((uint64_t) now.tv_sec * 1000) + (now.tv_nsec / 1000000);
  }
  return ((uint64_t) ts->tv_sec * 1000) + (ts->tv_nsec / 1000000);
}
`;
  const before = `  l->atime = timespec_to_uint64(&tv[0]);
  l->mtime = timespec_to_uint64(&tv[1]);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)`;
  const after = `  l->atime = loft_time(&tv[0]);
  l->mtime = loft_time(&tv[1]);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)
  FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)`;
  const anchor = 'static void populate_stat';
  if (!c.includes(before) || !c.includes(anchor)) {
    console.warn('loft: fuse-native utimens is not the expected 2.2.x code; keeping it as it is');
  } else {
    c = c.replace(before, after).replace(anchor, helper + anchor);
    if (!c.includes('#include <sys/stat.h>'))
      c = c.replace('#include <string.h>', '#include <string.h>\n#include <sys/stat.h>\n#include <time.h>');
    writeFileSync(source, c);
  }
}

if (!c.includes(OMIT_FLAG)) {
  const assign = 'if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;';
  if (c.includes(assign) && c.includes(UTIMENS_MARKER)) {
    c = c.replace(assign, `${assign}\n  ${OMIT_FLAG}`);
    writeFileSync(source, c);
  }
}

if (!c.includes(OPEN_FLAGS_MARKER)) {
  const stock = `  NAPI_ARGV_INT32(fd, 2)
  if (fd != 0) {
    l->info->fh = fd;
  }
})`;
  const patched = `  NAPI_ARGV_INT32(fd, 2)
  /* ${OPEN_FLAGS_MARKER}: bit 30 direct_io, bit 29 keep_cache, low 29 bits the handle */
  if (fd > 0) {
    if (fd & (1 << 30)) l->info->direct_io = 1;
    if (fd & (1 << 29)) l->info->keep_cache = 1;
    fd &= (1 << 29) - 1;
  }
  if (fd != 0) {
    l->info->fh = fd;
  }
})`;
  const openAt = c.indexOf('FUSE_METHOD(open,');
  const createAt = c.indexOf('FUSE_METHOD(create,');
  const exportAnchor = '  NAPI_EXPORT_UINT32(op_open)';
  const openStock = c.indexOf(stock, openAt);
  const createStock = c.indexOf(stock, createAt);
  if (openAt < 0 || createAt < 0 || openStock < 0 || createStock < 0 || !c.includes(exportAnchor)) {
    console.warn('loft: fuse-native open/create are not the expected 2.2.x code; keeping them as they are');
  } else {
    // create first (later in the file), so the open offset stays valid
    c = c.slice(0, createStock) + patched + c.slice(createStock + stock.length);
    c = c.slice(0, openStock) + patched + c.slice(openStock + stock.length);
    c = c
      .replace(
        'static const uint32_t op_open = 21;',
        'static const uint32_t op_open = 21;\nstatic const uint32_t loft_open_flags = 1;',
      )
      .replace(exportAnchor, `${exportAnchor}\n  NAPI_EXPORT_UINT32(loft_open_flags)`);
    writeFileSync(source, c);
  }
}

if (!c.includes(NOTIFY_MARKER)) {
  const helper = `
// ${NOTIFY_MARKER}: kernel cache invalidation from JavaScript (see loft native/patch-fuse-native.mjs).
static pthread_rwlock_t loft_notify_lock = PTHREAD_RWLOCK_INITIALIZER;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  fuse_thread_t *ft;
  uint64_t ino;
  char *name;
  int res;
} loft_notify_t;

static void loft_notify_execute (napi_env env, void *data) {
  loft_notify_t *n = (loft_notify_t *) data;
  pthread_rwlock_rdlock(&loft_notify_lock);
  if (n->ft->ch == NULL || n->ft->loft_closed) n->res = -ENOTCONN;
  else if (n->name != NULL) n->res = fuse_lowlevel_notify_inval_entry(n->ft->ch, n->ino, n->name, strlen(n->name));
  else n->res = fuse_lowlevel_notify_inval_inode(n->ft->ch, n->ino, -1, 0);
  pthread_rwlock_unlock(&loft_notify_lock);
}

static void loft_notify_complete (napi_env env, napi_status status, void *data) {
  loft_notify_t *n = (loft_notify_t *) data;
  napi_value res;
  napi_create_int32(env, status == napi_ok ? n->res : -ECANCELED, &res);
  napi_resolve_deferred(env, n->deferred, res);
  napi_delete_async_work(env, n->work);
  free(n->name);
  free(n);
}

// loft_notify_inval(thread, ino, name | null) -> Promise<0 | -errno>
NAPI_METHOD(loft_notify_inval) {
  NAPI_ARGV(3)
  NAPI_ARGV_BUFFER_CAST(fuse_thread_t *, ft, 0);
  int64_t ino = 0;
  napi_get_value_int64(env, argv[1], &ino);
  napi_valuetype type;
  napi_typeof(env, argv[2], &type);
  loft_notify_t *n = (loft_notify_t *) calloc(1, sizeof(loft_notify_t));
  n->ft = ft;
  n->ino = (uint64_t) ino;
  if (type == napi_string) {
    size_t len = 0;
    napi_get_value_string_utf8(env, argv[2], NULL, 0, &len);
    n->name = (char *) malloc(len + 1);
    napi_get_value_string_utf8(env, argv[2], n->name, len + 1, &len);
  }
  napi_value promise, resource;
  napi_create_promise(env, &(n->deferred), &promise);
  napi_create_string_utf8(env, "loft_notify_inval", NAPI_AUTO_LENGTH, &resource);
  napi_create_async_work(env, NULL, resource, loft_notify_execute, loft_notify_complete, n, &(n->work));
  napi_queue_async_work(env, n->work);
  return promise;
}

`;
  const field = '  int mounted;\n\n  uv_async_t async;';
  const loopEnd = '  fuse_loop_mt(ft->fuse);\n\n  fuse_unmount(ft->mnt, ft->ch);';
  const anchor = 'static void* start_fuse_thread';
  const exportAnchor = '  NAPI_EXPORT_FUNCTION(fuse_native_unmount)';
  if (!c.includes(field) || !c.includes(loopEnd) || !c.includes(anchor) || !c.includes(exportAnchor)) {
    console.warn('loft: fuse-native is not the expected 2.2.x code; no kernel cache invalidation');
  } else {
    c = c
      .replace(
        field,
        '  int mounted;\n  int loft_closed; /* LOFT_NOTIFY: the channel is gone */\n\n  uv_async_t async;',
      )
      .replace(
        loopEnd,
        '  fuse_loop_mt(ft->fuse);\n\n' +
          '  pthread_rwlock_wrlock(&loft_notify_lock); /* LOFT_NOTIFY */\n' +
          '  ft->loft_closed = 1;\n' +
          '  pthread_rwlock_unlock(&loft_notify_lock);\n\n' +
          '  fuse_unmount(ft->mnt, ft->ch);',
      )
      .replace(anchor, helper + anchor)
      .replace(exportAnchor, `${exportAnchor}\n  NAPI_EXPORT_FUNCTION(loft_notify_inval)`);
    writeFileSync(source, c);
  }
}

try {
  execFileSync('npm', ['rebuild', 'fuse-native', '--build-from-source', '--loglevel=error'], {
    stdio: 'inherit',
  });
} catch (err) {
  console.warn(`loft: building fuse-native from source failed (${err.message}); keeping the stock binding`);
  process.exit(0);
}
if (!existsSync(built))
  console.warn('loft: fuse-native build produced no binding; the stock one stays in use');
