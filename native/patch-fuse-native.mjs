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

let c = readFileSync(source, 'utf8');
const OMIT_FLAG = 'ops.flag_utime_omit_ok = 1;';
if (
  c.includes(MARKER) &&
  c.includes(NOTSUP_MARKER) &&
  c.includes(UTIMENS_MARKER) &&
  c.includes(OMIT_FLAG) &&
  c.includes(OPEN_FLAGS_MARKER) &&
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
