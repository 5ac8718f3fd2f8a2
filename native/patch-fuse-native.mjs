// Builds fuse-native from source with one project-owned change: a native fast path for getxattr.
//
// Why: `ls -l` asks every file for security.selinux and system.posix_acl_access. The kernel never
// caches the answers, and stops asking only if getxattr is not implemented at all — which Loft
// cannot do, since it serves user.loft.* attributes. Stock fuse-native sends each of those requests
// to the JavaScript thread: two round trips per file on every `ls -l` (measured: 1.5 s instead of
// 76 ms for a repeat `ls -l` of 10,000 files, scripts/bench/drive.mjs). Answered in C, non-"user."
// names cost nothing. Everything else in fuse-native is unchanged.
//
// Idempotent: does nothing when the installed binding already carries the fast path. If the build
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

let c = readFileSync(source, 'utf8');
if (c.includes(MARKER) && existsSync(built)) process.exit(0);

if (!c.includes(MARKER)) {
  const fastpath = `
// ${MARKER}: only "user." attributes go to JavaScript (see loft native/patch-fuse-native.mjs).
static int loft_getxattr (const char *path, const char *name, char *value, size_t size) {
  if (strncmp(name, "user.", 5) != 0) return -ENODATA;
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
