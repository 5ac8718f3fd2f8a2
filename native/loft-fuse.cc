// loft-fuse: Loft's own binding of libfuse 3's low-level API (see native/README.md).
//
// Threads. By default (jsLoop) the JavaScript thread reads the requests itself and calls the handler
// directly ("the loop on the JavaScript thread" below); reads of published cache ranges go to reader
// threads. Otherwise fuse_session_loop_mt runs on a thread of its own and starts libfuse's workers:
// a worker that receives a request copies what JavaScript needs into a Req, queues it on a
// thread-safe function and returns to the kernel at once: no FUSE thread ever waits for the
// JavaScript thread. JavaScript answers later through reply*(req, ...), which calls fuse_reply_*
// (libfuse allows a reply from any thread). A request JavaScript drops without an answer is answered
// EIO when its handle is collected, so the kernel never waits forever for it.
//
// Lifetime. The session's /dev/fuse descriptor is closed only when the loop has ended (the mount is
// gone: unmounted by us with umount2/fusermount, or from outside). Every write to it (replies,
// notifications) holds `lock` for reading and the close holds it for writing, so no late reply can
// reach a descriptor number the process has reused. The session itself is destroyed once the loop
// has ended and no request is waiting for an answer.
#include <napi.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <string>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <vector>

namespace loft {
// native/block-io.cc: SHA-256 and cache-file writes on libuv's thread pool.
void InitBlockIo(Napi::Env env, Napi::Object exports);
// native/cdc.cc: content-defined chunk boundaries (fastcdc 1.0.5's, faster than its wasm build).
void InitCdc(Napi::Env env, Napi::Object exports);
}  // namespace loft

namespace {

enum Op {
  OP_LOOKUP = 1,
  OP_FORGET,
  OP_GETATTR,
  OP_SETATTR,
  OP_READLINK,
  OP_MKNOD,
  OP_MKDIR,
  OP_UNLINK,
  OP_RMDIR,
  OP_SYMLINK,
  OP_RENAME,
  OP_LINK,
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_FLUSH,
  OP_RELEASE,
  OP_FSYNC,
  OP_OPENDIR,
  OP_READDIR,
  OP_RELEASEDIR,
  OP_STATFS,
  OP_GETXATTR,
  OP_LISTXATTR,
  OP_ACCESS,
  OP_CREATE,
  OP_READDIRPLUS,
  OP_FORGET_MULTI,
  // Events (no request to answer).
  EV_INIT = 100,
  EV_EXIT,
};

const uint32_t SESSION_MAGIC = 0x4c465353;  // "LFSS"
const uint32_t REQ_MAGIC = 0x4c465251;      // "LFRQ"

// Attribute array layout shared with src/client/fuse/lowlevel-mount.ts (ATTR_*).
const int ATTR_LEN = 11;

// A byte range of one open file handle that JavaScript published as served from the disk cache
// (see "Reads answered here" below): file bytes [start, end) are the bytes of the cache file `path`
// from `fileOff` on, a verified copy of block `hash`.
struct Seg {
  uint64_t start = 0, end = 0, fileOff = 0;
  std::string path, hash;
};

struct Pub {
  uint64_t size = 0;        // the handle's file size (reads are cut there)
  std::vector<Seg> segs;    // sorted by start, not overlapping
};

// A read the JavaScript thread's loop hands to a reader thread (see "the loop on the JavaScript
// thread" below).
struct ReadJob {
  fuse_req_t req;
  fuse_ino_t ino;
  uint64_t fh, off;
  size_t size;
};

struct Session {
  uint32_t magic = SESSION_MAGIC;
  fuse_session *se = nullptr;
  pthread_t thread{};
  Napi::ThreadSafeFunction tsfn;
  pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
  bool closed = false;     // the descriptor is closed (under lock)
  bool exited = false;     // the loop has ended and JavaScript was told (JS thread only)
  bool destroyed = false;  // fuse_session_destroy done (JS thread only)
  long pending = 0;        // requests delivered and not answered (JS thread only)
  std::atomic<long> queued{0};
  int loopResult = 0;
  // Negotiated at INIT (written by a worker before the EV_INIT event).
  unsigned capable = 0, want = 0, maxWrite = 0, maxRead = 0, maxReadahead = 0, protoMajor = 0,
           protoMinor = 0, maxBackground = 0;
  bool readdirplus = true;
  bool writebackCache = false;
  // Passthrough (see "Passthrough" below): asked for by JavaScript, offered by the kernel at INIT,
  // and then negotiated (our INIT reply patched by IoWritev).
  bool ptWanted = false;
  std::atomic<bool> ptOffered{false}, ptEnabled{false};
  std::atomic<uint64_t> initUnique{0};
  // Reads answered here (see below). `pubLock` guards `pubs`: FUSE workers hold it for reading
  // from the lookup until their pread is done; JavaScript holds it for writing to publish or
  // withdraw, so once a withdrawal returns no worker is still reading through what it removed.
  pthread_rwlock_t pubLock;
  std::unordered_map<uint64_t, Pub> pubs;
  std::atomic<size_t> pubCount{0};
  // What the workers served, drained by JavaScript (its accounting: LRU touches and counters).
  std::mutex statsMu;
  std::unordered_map<std::string, uint64_t> hits;  // block hash -> reads served from its file
  uint64_t cachedReads = 0, cachedBytes = 0, cachedFallbacks = 0;
  // The loop on the JavaScript thread (jsLoop; see there): its poll handle, the handler it calls
  // directly, the buffer requests are read into, and the reader threads cached reads go to.
  bool jsLoop = false;
  uv_poll_t *poll = nullptr;
  napi_env env = nullptr;
  Napi::FunctionReference handler;
  Napi::AsyncContext *asyncCtx = nullptr;
  fuse_buf fbuf{};
  std::mutex jobMu;
  std::condition_variable jobCv;
  std::deque<ReadJob> jobs;
  std::vector<std::thread> readers;
  bool stopping = false;
  Session() {
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    // A stream of reads must not keep JavaScript's withdrawal (before an eviction) waiting.
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&pubLock, &a);
    pthread_rwlockattr_destroy(&a);
  }
};

struct Req {
  uint32_t magic = REQ_MAGIC;
  Session *s = nullptr;
  fuse_req_t req = nullptr;
  int op = 0;
  bool replied = false;
  uint64_t ino = 0, ino2 = 0, fh = 0;
  int64_t off = 0;
  uint64_t size = 0;
  uint32_t mode = 0, flags = 0;
  int valid = 0;
  double attr[7] = {0};  // setattr: mode, uid, gid, size, atime ms, mtime ms, fh (-1: none)
  std::string name, name2;
  char *data = nullptr;
  size_t dataLen = 0;
  std::vector<double> forgets;  // forget_multi: ino, nlookup pairs
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// ---- delivery to JavaScript -----------------------------------------------------------------------

void CallJs(Napi::Env env, Napi::Function fn, Session *s, Req *r);

void FinalizeReq(Napi::Env env, Req *r);

// Answers a request without JavaScript (fast paths, failures); holds the lock like every reply.
void ReplyErrDirect(Session *s, fuse_req_t req, int err) {
  pthread_rwlock_rdlock(&s->lock);
  fuse_reply_err(req, err);
  pthread_rwlock_unlock(&s->lock);
}

// True on the JavaScript thread while its loop processes requests (jsLoop): a request is then
// handed to JavaScript by a direct call, not through the thread-safe function.
thread_local bool tlOnLoop = false;
// The loop's callback scope (open once a request of the batch reached JavaScript) and its context.
thread_local std::optional<Napi::CallbackScope> *tlScope = nullptr;
thread_local Napi::AsyncContext *tlAsync = nullptr;

void Deliver(Session *s, Req *r) {
  const fuse_ctx *ctx = fuse_req_ctx(r->req);
  r->pid = ctx->pid;
  r->uid = ctx->uid;
  r->gid = ctx->gid;
  r->s = s;
  s->queued++;
  if (tlOnLoop) {
    if (!tlScope->has_value()) tlScope->emplace(Napi::Env(s->env), *tlAsync);
    CallJs(Napi::Env(s->env), s->handler.Value(), s, r);
    return;
  }
  napi_status st = s->tsfn.NonBlockingCall(r, [s](Napi::Env env, Napi::Function fn, Req *r) {
    CallJs(env, fn, s, r);
  });
  if (st != napi_ok) {
    s->queued--;
    if (r->op == OP_FORGET || r->op == OP_FORGET_MULTI) {
      fuse_reply_none(r->req);
    } else {
      ReplyErrDirect(s, r->req, EIO);
    }
    free(r->data);
    delete r;
  }
}

Session *SessionOf(fuse_req_t req) { return static_cast<Session *>(fuse_req_userdata(req)); }

Req *NewReq(fuse_req_t req, int op, fuse_ino_t ino) {
  Req *r = new Req();
  r->req = req;
  r->op = op;
  r->ino = ino;
  return r;
}


// ---- reads answered here ---------------------------------------------------------------------------
//
// JavaScript publishes, per open file handle, byte ranges whose bytes lie in verified block files of
// the disk cache (Seg). A read whose range [off, min(off + size, file size)) is covered by them is
// answered by the worker that received it: open + pread of the cache file(s), fuse_reply_buf, no
// JavaScript. Anything else (a gap, off at or past the end, a file that cannot be opened or reads
// short) goes to JavaScript as before. Safety rests on JavaScript's side of the contract:
// a range is published only while it is true, and withdrawn (withdrawReads, which waits for every
// worker still reading under pubLock) before the block file can be removed or the handle's bytes
// change. Block files are content-addressed and never rewritten in place while indexed, so the
// bytes read are always the block's.

bool ReadFull(const std::string &path, uint64_t off, char *out, size_t len) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, out + got, len - got, static_cast<off_t>(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  return got == len;
}

// True when the read was answered here.
bool ServeCached(Session *s, fuse_req_t req, uint64_t fh, size_t size, uint64_t off) {
  if (s->pubCount.load(std::memory_order_acquire) == 0) return false;
  thread_local std::vector<char> buf;
  thread_local std::vector<const std::string *> used;
  size_t len = 0;
  used.clear();
  pthread_rwlock_rdlock(&s->pubLock);
  auto it = s->pubs.find(fh);
  bool ok = false;
  if (it != s->pubs.end() && off < it->second.size) {
    const Pub &p = it->second;
    uint64_t end = std::min<uint64_t>(off + size, p.size);
    len = static_cast<size_t>(end - off);
    if (buf.size() < len) buf.resize(len);
    // The first segment that ends after `off`.
    auto seg = std::upper_bound(p.segs.begin(), p.segs.end(), off,
                                [](uint64_t v, const Seg &g) { return v < g.end; });
    uint64_t pos = off;
    ok = true;
    while (pos < end) {
      if (seg == p.segs.end() || seg->start > pos) {
        ok = false;
        break;
      }
      uint64_t stop = std::min(end, seg->end);
      if (!ReadFull(seg->path, seg->fileOff + (pos - seg->start), buf.data() + (pos - off),
                    static_cast<size_t>(stop - pos))) {
        ok = false;
        break;
      }
      used.push_back(&seg->hash);
      pos = stop;
      ++seg;
    }
    if (ok) {
      std::lock_guard<std::mutex> g(s->statsMu);
      for (const std::string *h : used) s->hits[*h]++;
      s->cachedReads++;
      s->cachedBytes += len;
    } else {
      std::lock_guard<std::mutex> g(s->statsMu);
      s->cachedFallbacks++;
    }
  }
  pthread_rwlock_unlock(&s->pubLock);
  if (!ok) return false;
  pthread_rwlock_rdlock(&s->lock);
  fuse_reply_buf(req, buf.data(), len);
  pthread_rwlock_unlock(&s->lock);
  return true;
}

// ---- Passthrough ---------------------------------------------------------------------------------------
//
// Linux 6.9+ can send a file's reads and writes straight to a "backing" file of another file system,
// without a request to the server (FUSE_PASSTHROUGH): the drive gives a new file's staging file as
// its backing, so writing a new file costs the JavaScript thread its create and its close, not a
// request per write (issue 17). libfuse 3.14 knows nothing of it: the binding reads and writes
// /dev/fuse through fuse_session_custom_io, notes whether the kernel's INIT offers passthrough, and
// adds it (FUSE_INIT_EXT, flags2 bit 5, max_stack_depth 1) to libfuse's INIT reply when JavaScript
// asked for it. A backing file is registered with an ioctl on /dev/fuse (CAP_SYS_ADMIN) and named by
// its id in the open or create reply (fuse_open_out's last field), which the binding then writes
// itself with fuse_reply_iov. Everything else is as before.
const uint32_t INIT_FLAG_EXT = 1u << 30;        // FUSE_INIT_EXT: flags2 is read
const uint32_t INIT_FLAG2_PASSTHROUGH = 1u << 5;  // FUSE_PASSTHROUGH (1ULL << 37) in flags2
const uint32_t OPEN_PASSTHROUGH = 1u << 7;        // FOPEN_PASSTHROUGH
// fuse_init_out.max_stack_depth (7.40): the first of the older headers' unused words, after flags2.
const size_t INIT_OUT_STACK_DEPTH = offsetof(fuse_init_out, unused);
struct BackingMap {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
#define LOFT_IOC_BACKING_OPEN _IOW(229, 1, BackingMap)
#define LOFT_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

ssize_t IoRead(int fd, void *buf, size_t len, void *userdata) {
  ssize_t n = read(fd, buf, len);
  if (n >= static_cast<ssize_t>(sizeof(fuse_in_header) + sizeof(fuse_init_in))) {
    const fuse_in_header *h = static_cast<const fuse_in_header *>(buf);
    if (h->opcode == FUSE_INIT) {
      Session *s = static_cast<Session *>(userdata);
      const fuse_init_in *in = reinterpret_cast<const fuse_init_in *>(h + 1);
      s->ptOffered = (in->flags & INIT_FLAG_EXT) != 0 && (in->flags2 & INIT_FLAG2_PASSTHROUGH) != 0;
      s->initUnique = h->unique;
    }
  }
  return n;
}

ssize_t IoWritev(int fd, struct iovec *iov, int count, void *userdata) {
  Session *s = static_cast<Session *>(userdata);
  uint64_t init = s->initUnique.load();
  if (init != 0 && count >= 2 && iov[0].iov_len >= sizeof(fuse_out_header)) {
    const fuse_out_header *oh = static_cast<const fuse_out_header *>(iov[0].iov_base);
    if (oh->unique == init) {
      s->initUnique = 0;
      // libfuse's reply (its own 64-byte fuse_init_out, on its stack until this returns).
      // (ptEnabled was decided by LlInit, which libfuse calls before it replies.)
      if (oh->error == 0 && iov[1].iov_len >= INIT_OUT_STACK_DEPTH + 4 && s->ptEnabled) {
        uint8_t *p = static_cast<uint8_t *>(iov[1].iov_base);
        fuse_init_out *o = reinterpret_cast<fuse_init_out *>(p);
        o->flags |= INIT_FLAG_EXT;
        o->flags2 |= INIT_FLAG2_PASSTHROUGH;
        uint32_t depth = 1;
        memcpy(p + INIT_OUT_STACK_DEPTH, &depth, sizeof depth);
      } else {
        s->ptEnabled = false;
      }
    }
  }
  return writev(fd, iov, count);
}

const fuse_custom_io kIo = {IoWritev, IoRead, nullptr, nullptr};

void FillAttrOut(const struct stat &st, fuse_attr *a) {
  memset(a, 0, sizeof *a);
  a->ino = st.st_ino;
  a->mode = st.st_mode;
  a->nlink = static_cast<uint32_t>(st.st_nlink);
  a->uid = st.st_uid;
  a->gid = st.st_gid;
  a->rdev = static_cast<uint32_t>(st.st_rdev);
  a->size = static_cast<uint64_t>(st.st_size);
  a->blocks = static_cast<uint64_t>(st.st_blocks);
  a->blksize = static_cast<uint32_t>(st.st_blksize);
  a->atime = static_cast<uint64_t>(st.st_atim.tv_sec);
  a->atimensec = static_cast<uint32_t>(st.st_atim.tv_nsec);
  a->mtime = static_cast<uint64_t>(st.st_mtim.tv_sec);
  a->mtimensec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  a->ctime = static_cast<uint64_t>(st.st_ctim.tv_sec);
  a->ctimensec = static_cast<uint32_t>(st.st_ctim.tv_nsec);
}

void SplitTimeout(double t, uint64_t *sec, uint32_t *nsec) {
  if (!(t > 0)) {
    *sec = 0;
    *nsec = 0;
    return;
  }
  double whole = std::floor(t);
  *sec = static_cast<uint64_t>(whole);
  *nsec = static_cast<uint32_t>(std::min(999999999.0, (t - whole) * 1e9));
}

fuse_open_out OpenOut(const fuse_file_info &fi, int32_t backingId) {
  fuse_open_out o;
  memset(&o, 0, sizeof o);
  o.fh = fi.fh;
  if (fi.direct_io) o.open_flags |= FOPEN_DIRECT_IO;
  if (fi.keep_cache) o.open_flags |= FOPEN_KEEP_CACHE;
  if (fi.cache_readdir) o.open_flags |= FOPEN_CACHE_DIR;
  if (backingId > 0) {
    // Direct I/O and the page cache are the backing file's business then.
    o.open_flags &= ~(FOPEN_DIRECT_IO | FOPEN_KEEP_CACHE);
    o.open_flags |= OPEN_PASSTHROUGH;
    memcpy(&o.padding, &backingId, sizeof backingId);  // backing_id (7.40)
  }
  return o;
}

// ---- low-level operations (FUSE worker threads) ------------------------------------------------------

void LlInit(void *userdata, fuse_conn_info *conn) {
  Session *s = static_cast<Session *>(userdata);
  // Readdirplus: a listing carries every entry's attributes (one round trip for `ls -l`).
  if (s->readdirplus) {
    conn->want |= (conn->capable & (FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO));
  } else {
    conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
  }
  // The drive decides per open whether the kernel keeps a file's pages (keep_cache / direct_io),
  // as with the patched libfuse 2 binding: no automatic invalidation on an mtime change.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  // open(O_TRUNC) arrives as one request with the flag (Vfs.open truncates) instead of open+setattr.
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  if (s->writebackCache && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  } else {
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  }
  // Readahead and async reads in flight at once (each is one JavaScript request).
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  // Passthrough excludes the writeback cache (the kernel refuses both at once).
  s->ptEnabled = s->ptWanted && s->ptOffered && (conn->want & FUSE_CAP_WRITEBACK_CACHE) == 0;
  s->capable = conn->capable;
  s->want = conn->want;
  s->maxWrite = conn->max_write;
  s->maxRead = conn->max_read;
  s->maxReadahead = conn->max_readahead;
  s->protoMajor = conn->proto_major;
  s->protoMinor = conn->proto_minor;
  s->maxBackground = conn->max_background;
  s->tsfn.NonBlockingCall(static_cast<Req *>(nullptr), [s](Napi::Env env, Napi::Function fn, Req *) {
    if (env == nullptr) return;
    Napi::Object info = Napi::Object::New(env);
    info.Set("capable", s->capable);
    info.Set("want", s->want);
    info.Set("maxWrite", s->maxWrite);
    info.Set("maxRead", s->maxRead);
    info.Set("maxReadahead", s->maxReadahead);
    info.Set("protoMajor", s->protoMajor);
    info.Set("protoMinor", s->protoMinor);
    info.Set("passthrough", s->ptEnabled.load());
    info.Set("maxBackground", s->maxBackground);
    fn.Call({Napi::Number::New(env, EV_INIT), env.Null(), Napi::Number::New(env, 0), info});
  });
}

void LlLookup(fuse_req_t req, fuse_ino_t parent, const char *name) {
  Req *r = NewReq(req, OP_LOOKUP, parent);
  r->name = name;
  Deliver(SessionOf(req), r);
}

void LlForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Req *r = NewReq(req, OP_FORGET, ino);
  r->size = nlookup;
  Deliver(SessionOf(req), r);
}

void LlForgetMulti(fuse_req_t req, size_t count, fuse_forget_data *forgets) {
  Req *r = NewReq(req, OP_FORGET_MULTI, 0);
  r->forgets.reserve(count * 2);
  for (size_t i = 0; i < count; i++) {
    r->forgets.push_back(static_cast<double>(forgets[i].ino));
    r->forgets.push_back(static_cast<double>(forgets[i].nlookup));
  }
  Deliver(SessionOf(req), r);
}

void LlGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_GETATTR, ino);
  // fstat(2) of an open file names its handle: answered from the handle even when the node's path
  // changed behind the kernel's back (a remote move or conflict), not ESTALE.
  if (fi != nullptr) {
    r->fh = fi->fh;
    r->valid = 1;
  }
  Deliver(SessionOf(req), r);
}

double TimeMs(const struct timespec &t) { return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }

void LlSetattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_SETATTR, ino);
  r->valid = to_set;
  r->attr[0] = attr->st_mode;
  r->attr[1] = attr->st_uid;
  r->attr[2] = attr->st_gid;
  r->attr[3] = static_cast<double>(attr->st_size);
  r->attr[4] = TimeMs(attr->st_atim);
  r->attr[5] = TimeMs(attr->st_mtim);
  r->attr[6] = fi ? static_cast<double>(fi->fh) : -1;
  Deliver(SessionOf(req), r);
}

void LlReadlink(fuse_req_t req, fuse_ino_t ino) { Deliver(SessionOf(req), NewReq(req, OP_READLINK, ino)); }

void LlMknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  Req *r = NewReq(req, OP_MKNOD, parent);
  r->name = name;
  r->mode = mode;
  Deliver(SessionOf(req), r);
}

void LlMkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  Req *r = NewReq(req, OP_MKDIR, parent);
  r->name = name;
  r->mode = mode;
  Deliver(SessionOf(req), r);
}

void LlUnlink(fuse_req_t req, fuse_ino_t parent, const char *name) {
  Req *r = NewReq(req, OP_UNLINK, parent);
  r->name = name;
  Deliver(SessionOf(req), r);
}

void LlRmdir(fuse_req_t req, fuse_ino_t parent, const char *name) {
  Req *r = NewReq(req, OP_RMDIR, parent);
  r->name = name;
  Deliver(SessionOf(req), r);
}

void LlSymlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  Req *r = NewReq(req, OP_SYMLINK, parent);
  r->name = name;
  r->name2 = link;
  Deliver(SessionOf(req), r);
}

void LlRename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname,
              unsigned int flags) {
  Req *r = NewReq(req, OP_RENAME, parent);
  r->name = name;
  r->ino2 = newparent;
  r->name2 = newname;
  r->flags = flags;
  Deliver(SessionOf(req), r);
}

void LlLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  Req *r = NewReq(req, OP_LINK, ino);
  r->ino2 = newparent;
  r->name = newname;
  Deliver(SessionOf(req), r);
}

void LlOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_OPEN, ino);
  r->flags = fi->flags;
  Deliver(SessionOf(req), r);
}

void LlCreate(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_CREATE, parent);
  r->name = name;
  r->mode = mode;
  r->flags = fi->flags;
  Deliver(SessionOf(req), r);
}

bool HasPub(Session *s, uint64_t fh) {
  if (s->pubCount.load(std::memory_order_acquire) == 0) return false;
  pthread_rwlock_rdlock(&s->pubLock);
  bool has = s->pubs.count(fh) > 0;
  pthread_rwlock_unlock(&s->pubLock);
  return has;
}

void LlRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *fi) {
  Session *s = SessionOf(req);
  if (tlOnLoop && off >= 0 && HasPub(s, fi->fh)) {
    // Served from cache files by a reader thread, not on the JavaScript thread (a pread may wait
    // for the disk); what it cannot serve it delivers as a worker would.
    std::lock_guard<std::mutex> g(s->jobMu);
    s->jobs.push_back({req, ino, fi->fh, static_cast<uint64_t>(off), size});
    s->jobCv.notify_one();
    return;
  }
  if (off >= 0 && ServeCached(s, req, fi->fh, size, static_cast<uint64_t>(off))) return;
  Req *r = NewReq(req, OP_READ, ino);
  r->fh = fi->fh;
  r->size = size;
  r->off = off;
  Deliver(SessionOf(req), r);
}

void LlWrite(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_WRITE, ino);
  r->fh = fi->fh;
  r->off = off;
  // The request buffer is libfuse's and reused once this returns: JavaScript gets a copy.
  r->data = static_cast<char *>(malloc(size ? size : 1));
  if (r->data == nullptr) {
    delete r;
    ReplyErrDirect(SessionOf(req), req, ENOMEM);
    return;
  }
  memcpy(r->data, buf, size);
  r->dataLen = size;
  Deliver(SessionOf(req), r);
}

void LlFlush(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_FLUSH, ino);
  r->fh = fi->fh;
  Deliver(SessionOf(req), r);
}

void LlRelease(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_RELEASE, ino);
  r->fh = fi->fh;
  Deliver(SessionOf(req), r);
}

void LlFsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_FSYNC, ino);
  r->fh = fi->fh;
  r->flags = datasync;
  Deliver(SessionOf(req), r);
}

void LlOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) {
  Deliver(SessionOf(req), NewReq(req, OP_OPENDIR, ino));
}

void LlReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_READDIR, ino);
  r->fh = fi->fh;
  r->size = size;
  r->off = off;
  Deliver(SessionOf(req), r);
}

void LlReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_READDIRPLUS, ino);
  r->fh = fi->fh;
  r->size = size;
  r->off = off;
  Deliver(SessionOf(req), r);
}

void LlReleasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi) {
  Req *r = NewReq(req, OP_RELEASEDIR, ino);
  r->fh = fi->fh;
  Deliver(SessionOf(req), r);
}

void LlFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info *fi) {
  ReplyErrDirect(SessionOf(req), req, 0);
}

void LlStatfs(fuse_req_t req, fuse_ino_t ino) { Deliver(SessionOf(req), NewReq(req, OP_STATFS, ino)); }

void LlGetxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  // Only "user." attributes exist (Loft's own); every other namespace is answered here, without a
  // JavaScript round trip. EOPNOTSUPP, not ENODATA: GNU ls then stops asking for security.selinux
  // and ACLs for the rest of a listing (measured on fuse-native: native/fuse-native/README.md).
  if (strncmp(name, "user.", 5) != 0) {
    ReplyErrDirect(SessionOf(req), req, EOPNOTSUPP);
    return;
  }
  Req *r = NewReq(req, OP_GETXATTR, ino);
  r->name = name;
  r->size = size;
  Deliver(SessionOf(req), r);
}

void LlListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Req *r = NewReq(req, OP_LISTXATTR, ino);
  r->size = size;
  Deliver(SessionOf(req), r);
}

void LlSetxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags) {
  ReplyErrDirect(SessionOf(req), req, ENOTSUP);
}

void LlRemovexattr(fuse_req_t req, fuse_ino_t ino, const char *name) {
  ReplyErrDirect(SessionOf(req), req, ENOTSUP);
}

void LlAccess(fuse_req_t req, fuse_ino_t ino, int mask) {
  Req *r = NewReq(req, OP_ACCESS, ino);
  r->mode = mask;
  Deliver(SessionOf(req), r);
}

const fuse_lowlevel_ops kOps = [] {
  fuse_lowlevel_ops o;
  memset(&o, 0, sizeof o);
  o.init = LlInit;
  o.lookup = LlLookup;
  o.forget = LlForget;
  o.forget_multi = LlForgetMulti;
  o.getattr = LlGetattr;
  o.setattr = LlSetattr;
  o.readlink = LlReadlink;
  o.mknod = LlMknod;
  o.mkdir = LlMkdir;
  o.unlink = LlUnlink;
  o.rmdir = LlRmdir;
  o.symlink = LlSymlink;
  o.rename = LlRename;
  o.link = LlLink;
  o.open = LlOpen;
  o.read = LlRead;
  o.write = LlWrite;
  o.flush = LlFlush;
  o.release = LlRelease;
  o.fsync = LlFsync;
  o.opendir = LlOpendir;
  o.readdir = LlReaddir;
  o.readdirplus = LlReaddirplus;
  o.releasedir = LlReleasedir;
  o.fsyncdir = LlFsyncdir;
  o.statfs = LlStatfs;
  o.setxattr = LlSetxattr;
  o.getxattr = LlGetxattr;
  o.listxattr = LlListxattr;
  o.removexattr = LlRemovexattr;
  o.access = LlAccess;
  o.create = LlCreate;
  return o;
}();

// ---- the JavaScript side ---------------------------------------------------------------------------

void MaybeDestroy(Session *s) {
  if (s->destroyed || !s->exited || s->pending > 0 || s->queued.load() > 0) return;
  s->destroyed = true;
  if (!s->jsLoop) pthread_join(s->thread, nullptr);
  fuse_session_destroy(s->se);
  s->se = nullptr;
  free(s->fbuf.mem);
  s->fbuf.mem = nullptr;
  s->handler.Reset();
  pthread_rwlock_wrlock(&s->pubLock);
  s->pubs.clear();
  s->pubCount.store(0);
  pthread_rwlock_unlock(&s->pubLock);
  // The Session struct stays (a few hundred bytes): JavaScript may still hold its handle.
}

void FinalizeReq(Napi::Env env, Req *r) {
  Session *s = r->s;
  if (!r->replied) {
    // Dropped without an answer: EIO (forget needs none).
    r->replied = true;
    pthread_rwlock_rdlock(&s->lock);
    if (r->op == OP_FORGET || r->op == OP_FORGET_MULTI) {
      fuse_reply_none(r->req);
    } else {
      fuse_reply_err(r->req, EIO);
    }
    pthread_rwlock_unlock(&s->lock);
    s->pending--;
    MaybeDestroy(s);
  }
  free(r->data);
  delete r;
}

void CallJs(Napi::Env env, Napi::Function fn, Session *s, Req *r) {
  s->queued--;
  if (env == nullptr) {
    // The thread-safe function is going away (environment teardown): answer and drop.
    if (r->op == OP_FORGET || r->op == OP_FORGET_MULTI) {
      fuse_reply_none(r->req);
    } else {
      ReplyErrDirect(s, r->req, EIO);
    }
    free(r->data);
    delete r;
    return;
  }
  s->pending++;
  Napi::External<Req> handle = Napi::External<Req>::New(env, r, FinalizeReq);
  auto num = [&](double v) { return Napi::Number::New(env, v); };
  auto str = [&](const std::string &v) { return Napi::String::New(env, v); };
  Napi::Value a = env.Undefined(), b = env.Undefined(), c = env.Undefined(), d = env.Undefined();
  switch (r->op) {
    case OP_LOOKUP:
    case OP_UNLINK:
    case OP_RMDIR:
      a = str(r->name);
      break;
    case OP_FORGET:
      a = num(static_cast<double>(r->size));
      break;
    case OP_FORGET_MULTI: {
      Napi::Float64Array arr = Napi::Float64Array::New(env, r->forgets.size());
      memcpy(arr.Data(), r->forgets.data(), r->forgets.size() * sizeof(double));
      a = arr;
      break;
    }
    case OP_SETATTR: {
      Napi::Float64Array arr = Napi::Float64Array::New(env, 7);
      memcpy(arr.Data(), r->attr, sizeof r->attr);
      a = num(r->valid);
      b = arr;
      break;
    }
    case OP_MKNOD:
    case OP_MKDIR:
      a = str(r->name);
      b = num(r->mode);
      break;
    case OP_SYMLINK:
      a = str(r->name);
      b = str(r->name2);
      break;
    case OP_RENAME:
      a = str(r->name);
      b = num(static_cast<double>(r->ino2));
      c = str(r->name2);
      d = num(r->flags);
      break;
    case OP_LINK:
      a = num(static_cast<double>(r->ino2));
      b = str(r->name);
      break;
    case OP_GETATTR:
      a = num(r->valid ? static_cast<double>(r->fh) : -1);
      break;
    case OP_OPEN:
      a = num(r->flags);
      break;
    case OP_CREATE:
      a = str(r->name);
      b = num(r->mode);
      c = num(r->flags);
      break;
    case OP_READ:
    case OP_READDIR:
    case OP_READDIRPLUS:
      a = num(static_cast<double>(r->fh));
      b = num(static_cast<double>(r->size));
      c = num(static_cast<double>(r->off));
      break;
    case OP_WRITE:
      a = num(static_cast<double>(r->fh));
      b = Napi::Buffer<char>::New(env, r->data, r->dataLen, [](Napi::Env, char *p) { free(p); });
      r->data = nullptr;  // owned by the Buffer now
      c = num(static_cast<double>(r->off));
      break;
    case OP_FLUSH:
    case OP_RELEASE:
    case OP_RELEASEDIR:
      a = num(static_cast<double>(r->fh));
      break;
    case OP_FSYNC:
      a = num(static_cast<double>(r->fh));
      b = num(r->flags);
      break;
    case OP_GETXATTR:
      a = str(r->name);
      b = num(static_cast<double>(r->size));
      break;
    case OP_LISTXATTR:
      a = num(static_cast<double>(r->size));
      break;
    case OP_ACCESS:
      a = num(r->mode);
      break;
    default:
      break;
  }
  try {
    fn.Call({num(r->op), handle, num(static_cast<double>(r->ino)), a, b, c, d, num(r->pid), num(r->uid),
             num(r->gid)});
  } catch (const Napi::Error &err) {
    // The handler must not throw; if it did, the request is answered EIO when its handle is
    // collected and the error goes to the process's uncaughtException handlers.
    napi_fatal_exception(env, err.Value());
  }
}

// The mount is gone (the kernel aborted the connection), and the loop that read its requests has
// ended (either kind). Closes the descriptor with no reply or notification in flight (later replies
// then fail on fd -1 and only free their request); JavaScript hears EV_EXIT after every request
// queued before it (the queue is unbounded: this never waits), and the session goes once no request
// awaits an answer.
void LoopEnded(Session *s) {
  pthread_rwlock_wrlock(&s->lock);
  s->closed = true;
  fuse_session_unmount(s->se);
  pthread_rwlock_unlock(&s->lock);
  s->tsfn.NonBlockingCall(static_cast<Req *>(nullptr), [s](Napi::Env env, Napi::Function fn, Req *) {
    if (env == nullptr) return;
    s->exited = true;
    fn.Call({Napi::Number::New(env, EV_EXIT), env.Null(), Napi::Number::New(env, 0),
             Napi::Number::New(env, s->loopResult)});
    MaybeDestroy(s);
  });
  s->tsfn.Release();
}

void *LoopMain(void *arg) {
  Session *s = static_cast<Session *>(arg);
  fuse_loop_config *cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(cfg, 0);
  // Workers never wait for JavaScript, so a few suffice; more only for parallel notifications.
  fuse_loop_cfg_set_idle_threads(cfg, 4);
  fuse_loop_cfg_set_max_threads(cfg, 16);
  s->loopResult = fuse_session_loop_mt(s->se, cfg);
  fuse_loop_cfg_destroy(cfg);
  LoopEnded(s);
  return nullptr;
}

Session *SessionArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsExternal()) throw Napi::TypeError::New(info.Env(), "expected a session");
  Session *s = static_cast<Session *>(info[i].As<Napi::External<void>>().Data());
  if (s == nullptr || s->magic != SESSION_MAGIC) throw Napi::TypeError::New(info.Env(), "expected a session");
  return s;
}

// Takes the request out of its handle for a reply; throws on a second reply.
Req *TakeReq(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "expected a request");
  Req *r = static_cast<Req *>(info[0].As<Napi::External<void>>().Data());
  if (r == nullptr || r->magic != REQ_MAGIC) throw Napi::TypeError::New(info.Env(), "expected a request");
  if (r->replied) throw Napi::Error::New(info.Env(), "request already answered");
  r->replied = true;
  return r;
}

// Runs a fuse_reply_* under the lock and accounts the answer.
template <typename F>
Napi::Value Answer(const Napi::CallbackInfo &info, Req *r, F reply) {
  Session *s = r->s;
  pthread_rwlock_rdlock(&s->lock);
  int res = reply();
  pthread_rwlock_unlock(&s->lock);
  s->pending--;
  MaybeDestroy(s);
  return Napi::Number::New(info.Env(), res);
}

double NumArg(const Napi::CallbackInfo &info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "expected a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

void ToTimespec(double ms, struct timespec *t) {
  double sec = std::floor(ms / 1e3);
  long ns = std::lround((ms - sec * 1e3) * 1e6);
  if (ns >= 1000000000L) {
    sec += 1;
    ns -= 1000000000L;
  }
  t->tv_sec = static_cast<time_t>(sec);
  t->tv_nsec = ns < 0 ? 0 : ns;
}

void FillStat(const double *a, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = static_cast<ino_t>(a[0]);
  st->st_mode = static_cast<mode_t>(a[1]);
  st->st_nlink = static_cast<nlink_t>(a[2]);
  st->st_uid = static_cast<uid_t>(a[3]);
  st->st_gid = static_cast<gid_t>(a[4]);
  st->st_size = static_cast<off_t>(a[5]);
  st->st_blocks = static_cast<blkcnt_t>(a[6]);
  st->st_blksize = static_cast<blksize_t>(a[7]);
  ToTimespec(a[8], &st->st_atim);
  ToTimespec(a[9], &st->st_mtim);
  ToTimespec(a[10], &st->st_ctim);
}

const double *AttrArg(const Napi::CallbackInfo &info, size_t i, size_t count = 1) {
  if (info.Length() <= i || !info[i].IsTypedArray())
    throw Napi::TypeError::New(info.Env(), "expected a Float64Array of attributes");
  Napi::TypedArray t = info[i].As<Napi::TypedArray>();
  if (t.TypedArrayType() != napi_float64_array || t.ElementLength() < ATTR_LEN * count)
    throw Napi::TypeError::New(info.Env(), "expected a Float64Array of attributes");
  return t.As<Napi::Float64Array>().Data();
}

void FillEntry(const Napi::CallbackInfo &info, size_t i, fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->ino = static_cast<fuse_ino_t>(NumArg(info, i));
  FillStat(AttrArg(info, i + 1), &e->attr);
  e->attr_timeout = NumArg(info, i + 2);
  e->entry_timeout = NumArg(info, i + 3);
}

// Open flags from JavaScript: bit 0 direct_io, bit 1 keep_cache, bit 3 cache_readdir (an opendir:
// the kernel keeps the listing in the folder's page cache; with keep_cache it outlives this handle).
void FillOpen(double fh, double flags, fuse_file_info *fi) {
  memset(fi, 0, sizeof *fi);
  fi->fh = static_cast<uint64_t>(fh);
  int f = static_cast<int>(flags);
  fi->direct_io = (f & 1) ? 1 : 0;
  fi->keep_cache = (f & 2) ? 1 : 0;
  fi->cache_readdir = (f & 8) ? 1 : 0;
}

Napi::Value ReplyErr(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  int err = static_cast<int>(NumArg(info, 1));
  return Answer(info, r, [&] { return fuse_reply_err(r->req, err); });
}

Napi::Value ReplyNone(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  return Answer(info, r, [&] {
    fuse_reply_none(r->req);
    return 0;
  });
}

Napi::Value ReplyEntry(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  fuse_entry_param e;
  try {
    FillEntry(info, 1, &e);
  } catch (...) {
    r->replied = false;
    throw;
  }
  return Answer(info, r, [&] { return fuse_reply_entry(r->req, &e); });
}

Napi::Value ReplyCreate(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  fuse_entry_param e;
  fuse_file_info fi;
  try {
    FillEntry(info, 1, &e);
    FillOpen(NumArg(info, 5), NumArg(info, 6), &fi);
  } catch (...) {
    r->replied = false;
    throw;
  }
  int32_t backing = info.Length() > 7 && info[7].IsNumber() ? info[7].As<Napi::Number>().Int32Value() : 0;
  if (backing <= 0) return Answer(info, r, [&] { return fuse_reply_create(r->req, &e, &fi); });
  // Passthrough: the reply libfuse would write, with the backing file's id in it.
  struct {
    fuse_entry_out entry;
    fuse_open_out open;
  } out;
  memset(&out, 0, sizeof out);
  out.entry.nodeid = e.ino;
  out.entry.generation = e.generation;
  SplitTimeout(e.entry_timeout, &out.entry.entry_valid, &out.entry.entry_valid_nsec);
  SplitTimeout(e.attr_timeout, &out.entry.attr_valid, &out.entry.attr_valid_nsec);
  FillAttrOut(e.attr, &out.entry.attr);
  out.open = OpenOut(fi, backing);
  struct iovec iov = {&out, sizeof out};
  return Answer(info, r, [&] { return fuse_reply_iov(r->req, &iov, 1); });
}

Napi::Value ReplyAttr(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  struct stat st;
  double timeout;
  try {
    FillStat(AttrArg(info, 1), &st);
    timeout = NumArg(info, 2);
  } catch (...) {
    r->replied = false;
    throw;
  }
  return Answer(info, r, [&] { return fuse_reply_attr(r->req, &st, timeout); });
}

Napi::Value ReplyReadlink(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  if (info.Length() < 2 || !info[1].IsString()) {
    r->replied = false;
    throw Napi::TypeError::New(info.Env(), "expected a string");
  }
  std::string link = info[1].As<Napi::String>().Utf8Value();
  return Answer(info, r, [&] { return fuse_reply_readlink(r->req, link.c_str()); });
}

Napi::Value ReplyOpen(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  fuse_file_info fi;
  try {
    FillOpen(NumArg(info, 1), NumArg(info, 2), &fi);
  } catch (...) {
    r->replied = false;
    throw;
  }
  // Flag 4: the kernel's attributes of this file may be of another revision than the one this
  // handle reads (a remote change whose invalidation is still queued): dropped before the open
  // returns, so the opener's next fstat or read past the old size asks again. Attributes only
  // (offset -1): no page lock is taken, so this cannot wait on a request of this process.
  bool inval = (static_cast<int>(NumArg(info, 2)) & 4) != 0;
  // An id from backingOpen: the kernel reads and writes this file's backing file itself.
  int32_t backing = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 0;
  return Answer(info, r, [&] {
    if (inval && !r->s->closed && r->s->se != nullptr) fuse_lowlevel_notify_inval_inode(r->s->se, r->ino, -1, 0);
    if (backing > 0) {
      fuse_open_out out = OpenOut(fi, backing);
      struct iovec iov = {&out, sizeof out};
      return fuse_reply_iov(r->req, &iov, 1);
    }
    return fuse_reply_open(r->req, &fi);
  });
}

// backingOpen(session, fd) -> id > 0 | -errno: registers an open file as a backing file for
// passthrough (see "Passthrough"); the kernel holds its own reference to the file from then on.
Napi::Value BackingOpen(const Napi::CallbackInfo &info) {
  Session *s = SessionArg(info, 0);
  int fd = static_cast<int>(NumArg(info, 1));
  int res = -EOPNOTSUPP;
  if (s->ptEnabled) {
    BackingMap map = {fd, 0, 0};
    pthread_rwlock_rdlock(&s->lock);
    if (s->closed || s->se == nullptr) {
      res = -EBADF;
    } else {
      res = ioctl(fuse_session_fd(s->se), LOFT_IOC_BACKING_OPEN, &map);
      if (res < 0) res = -errno;
    }
    pthread_rwlock_unlock(&s->lock);
  }
  return Napi::Number::New(info.Env(), res);
}

// backingClose(session, id) -> 0 | -errno: the id is no longer named in replies (files opened with
// it keep their backing file until released).
Napi::Value BackingClose(const Napi::CallbackInfo &info) {
  Session *s = SessionArg(info, 0);
  uint32_t id = static_cast<uint32_t>(NumArg(info, 1));
  int res = -EBADF;
  pthread_rwlock_rdlock(&s->lock);
  if (!s->closed && s->se != nullptr) {
    res = ioctl(fuse_session_fd(s->se), LOFT_IOC_BACKING_CLOSE, &id);
    if (res < 0) res = -errno;
  }
  pthread_rwlock_unlock(&s->lock);
  return Napi::Number::New(info.Env(), res);
}

Napi::Value ReplyWrite(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  double n;
  try {
    n = NumArg(info, 1);
  } catch (...) {
    r->replied = false;
    throw;
  }
  return Answer(info, r, [&] { return fuse_reply_write(r->req, static_cast<size_t>(n)); });
}

// replyBuf(req, buffer | null, length): the first `length` bytes of the buffer.
Napi::Value ReplyBuf(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  const char *data = nullptr;
  size_t len = 0;
  if (info.Length() >= 2 && info[1].IsBuffer()) {
    Napi::Buffer<char> b = info[1].As<Napi::Buffer<char>>();
    data = b.Data();
    len = b.Length();
    if (info.Length() >= 3 && info[2].IsNumber()) {
      double n = info[2].As<Napi::Number>().DoubleValue();
      if (n < 0 || n > static_cast<double>(len)) {
        r->replied = false;
        throw Napi::RangeError::New(info.Env(), "length past the buffer");
      }
      len = static_cast<size_t>(n);
    }
  }
  return Answer(info, r, [&] { return fuse_reply_buf(r->req, data, len); });
}

Napi::Value ReplyStatfs(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  if (info.Length() < 2 || !info[1].IsTypedArray()) {
    r->replied = false;
    throw Napi::TypeError::New(info.Env(), "expected a Float64Array");
  }
  Napi::Float64Array a = info[1].As<Napi::Float64Array>();
  if (a.ElementLength() < 9) {
    r->replied = false;
    throw Napi::TypeError::New(info.Env(), "expected 9 statfs values");
  }
  struct statvfs st;
  memset(&st, 0, sizeof st);
  st.f_bsize = static_cast<unsigned long>(a[0]);
  st.f_frsize = static_cast<unsigned long>(a[1]);
  st.f_blocks = static_cast<fsblkcnt_t>(a[2]);
  st.f_bfree = static_cast<fsblkcnt_t>(a[3]);
  st.f_bavail = static_cast<fsblkcnt_t>(a[4]);
  st.f_files = static_cast<fsfilcnt_t>(a[5]);
  st.f_ffree = static_cast<fsfilcnt_t>(a[6]);
  st.f_favail = static_cast<fsfilcnt_t>(a[7]);
  st.f_namemax = static_cast<unsigned long>(a[8]);
  return Answer(info, r, [&] { return fuse_reply_statfs(r->req, &st); });
}

Napi::Value ReplyXattr(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  double n;
  try {
    n = NumArg(info, 1);
  } catch (...) {
    r->replied = false;
    throw;
  }
  return Answer(info, r, [&] { return fuse_reply_xattr(r->req, static_cast<size_t>(n)); });
}

// replyDir(req, plus, size, names, attrs, nodes, start, attrTimeout, entryTimeout) -> entries
// added, from index `start` on while they fit in `size` bytes. Entry i carries offset i + 1, so a
// later readdir at offset `off` resumes at index `off`. attrs holds ATTR_LEN values per name (a
// plain listing uses only st_ino and the file type); nodes[i] is the node id a readdirplus entry
// gives the kernel (0 for "." and "..", which the kernel does not link).
Napi::Value ReplyDir(const Napi::CallbackInfo &info) {
  Req *r = TakeReq(info);
  std::vector<char> buf;
  size_t added = 0;
  try {
    bool plus = info[1].ToBoolean().Value();
    size_t size = static_cast<size_t>(NumArg(info, 2));
    if (!info[3].IsArray()) throw Napi::TypeError::New(info.Env(), "expected an array of names");
    Napi::Array names = info[3].As<Napi::Array>();
    uint32_t n = names.Length();
    const double *attrs = AttrArg(info, 4, n);
    if (info.Length() < 6 || !info[5].IsTypedArray())
      throw Napi::TypeError::New(info.Env(), "expected a Float64Array of node ids");
    Napi::Float64Array nodes = info[5].As<Napi::Float64Array>();
    if (nodes.ElementLength() < n) throw Napi::TypeError::New(info.Env(), "too few node ids");
    size_t start = static_cast<size_t>(NumArg(info, 6));
    double attrTimeout = NumArg(info, 7), entryTimeout = NumArg(info, 8);
    buf.resize(size);
    size_t used = 0;
    for (size_t i = start; i < n; i++) {
      std::string name = names.Get(static_cast<uint32_t>(i)).As<Napi::String>().Utf8Value();
      size_t len;
      if (plus) {
        fuse_entry_param e;
        memset(&e, 0, sizeof e);
        FillStat(attrs + i * ATTR_LEN, &e.attr);
        e.ino = static_cast<fuse_ino_t>(nodes[i]);
        e.attr_timeout = attrTimeout;
        e.entry_timeout = entryTimeout;
        len = fuse_add_direntry_plus(r->req, buf.data() + used, size - used, name.c_str(), &e,
                                     static_cast<off_t>(i + 1));
      } else {
        struct stat st;
        FillStat(attrs + i * ATTR_LEN, &st);
        len = fuse_add_direntry(r->req, buf.data() + used, size - used, name.c_str(), &st,
                                static_cast<off_t>(i + 1));
      }
      if (len > size - used) break;
      used += len;
      added++;
    }
    buf.resize(used);
  } catch (...) {
    r->replied = false;
    throw;
  }
  Answer(info, r, [&] { return fuse_reply_buf(r->req, buf.data(), buf.size()); });
  return Napi::Number::New(info.Env(), static_cast<double>(added));
}

// ---- the loop on the JavaScript thread (jsLoop) ------------------------------------------------------
//
// Instead of libfuse's worker threads, the JavaScript thread reads /dev/fuse itself (non-blocking,
// polled by libuv) and calls the handler directly: a request then crosses two threads (kernel →
// JavaScript → kernel) instead of three (kernel → worker → JavaScript through the thread-safe
// function → kernel), which is most of a small request's cost on a 2-CPU VM. Reads of published
// cache ranges still go to threads of their own (`readers`), so a pread that waits for the disk
// never holds the JavaScript thread, and reads are served in parallel as before.

void ReaderMain(Session *s) {
  for (;;) {
    ReadJob job;
    {
      std::unique_lock<std::mutex> g(s->jobMu);
      s->jobCv.wait(g, [s] { return s->stopping || !s->jobs.empty(); });
      if (s->jobs.empty()) return;  // stopping, nothing left
      job = s->jobs.front();
      s->jobs.pop_front();
    }
    if (ServeCached(s, job.req, job.fh, job.size, job.off)) continue;
    Req *r = NewReq(job.req, OP_READ, job.ino);
    r->fh = job.fh;
    r->size = job.size;
    r->off = static_cast<int64_t>(job.off);
    Deliver(s, r);  // not on the loop thread: through the thread-safe function
  }
}

void EndJsLoop(Session *s) {
  uv_poll_stop(s->poll);
  uv_close(reinterpret_cast<uv_handle_t *>(s->poll), [](uv_handle_t *h) {
    Session *s = static_cast<Session *>(h->data);
    delete s->asyncCtx;
    s->asyncCtx = nullptr;
    delete reinterpret_cast<uv_poll_t *>(h);
  });
  {
    std::lock_guard<std::mutex> g(s->jobMu);
    s->stopping = true;
  }
  s->jobCv.notify_all();
  for (auto &t : s->readers) t.join();
  s->readers.clear();
  LoopEnded(s);  // after the reads the readers delivered
}

// Requests handled per poll event before libuv's other work gets its turn.
const int LOOP_BATCH = 64;
// Reader threads of cached reads (libfuse's own loop keeps 4 workers idle).
const int READERS = 4;

void OnFuseReadable(uv_poll_t *h, int status, int events) {
  Session *s = static_cast<Session *>(h->data);
  if (s->closed) return;
  Napi::Env env(s->env);
  bool ended = status < 0;
  {
    Napi::HandleScope hs(env);
    // Promise reactions the handlers start run when this scope closes, as after any callback.
    // Opened by the first request that reaches JavaScript (Deliver): none for those answered here.
    std::optional<Napi::CallbackScope> cs;
    tlScope = &cs;
    tlAsync = s->asyncCtx;
    tlOnLoop = true;
    for (int i = 0; i < LOOP_BATCH && !ended; i++) {
      int res = fuse_session_receive_buf(s->se, &s->fbuf);
      if (res == -EINTR) continue;
      if (res == -EAGAIN) break;
      if (res <= 0) {
        s->loopResult = res < 0 ? res : 0;
        ended = true;
        break;
      }
      fuse_session_process_buf(s->se, &s->fbuf);
      if (fuse_session_exited(s->se)) ended = true;
    }
    tlOnLoop = false;
  }
  if (ended) EndJsLoop(s);
}

bool StartJsLoop(Napi::Env env, Session *s, Napi::Function handler) {
  uv_loop_t *loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return false;
  int fd = fuse_session_fd(s->se);
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return false;
  s->env = env;
  s->handler = Napi::Persistent(handler);
  s->asyncCtx = new Napi::AsyncContext(env, "loft-fuse");
  s->poll = new uv_poll_t;
  s->poll->data = s;
  bool polled = uv_poll_init(loop, s->poll, fd) == 0;
  if (!polled || uv_poll_start(s->poll, UV_READABLE, OnFuseReadable) != 0) {
    // An initialized handle is libuv's until closed; one that is not can go at once.
    if (polled) {
      uv_close(reinterpret_cast<uv_handle_t *>(s->poll),
               [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
    } else {
      delete s->poll;
    }
    s->poll = nullptr;
    delete s->asyncCtx;
    s->asyncCtx = nullptr;
    s->handler.Reset();
    return false;
  }
  for (int i = 0; i < READERS; i++) s->readers.emplace_back(ReaderMain, s);
  return true;
}

// mount(mountpoint, args, handler, {readdirplus, writebackCache, jsLoop}) -> session
Napi::Value Mount(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsFunction())
    throw Napi::TypeError::New(env, "mount(mountpoint, args, handler, options)");
  std::string mountpoint = info[0].As<Napi::String>().Utf8Value();
  Napi::Array argArray = info[1].As<Napi::Array>();
  std::vector<std::string> args{"loft"};
  for (uint32_t i = 0; i < argArray.Length(); i++) args.push_back(argArray.Get(i).As<Napi::String>().Utf8Value());
  Session *s = new Session();
  if (info.Length() >= 4 && info[3].IsObject()) {
    Napi::Object o = info[3].As<Napi::Object>();
    if (o.Has("readdirplus")) s->readdirplus = o.Get("readdirplus").ToBoolean().Value();
    if (o.Has("writebackCache")) s->writebackCache = o.Get("writebackCache").ToBoolean().Value();
    if (o.Has("jsLoop")) s->jsLoop = o.Get("jsLoop").ToBoolean().Value();
    if (o.Has("passthrough")) s->ptWanted = o.Get("passthrough").ToBoolean().Value();
  }
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  s->se = fuse_session_new(&fargs, &kOps, sizeof kOps, s);
  fuse_opt_free_args(&fargs);
  if (s->se == nullptr) {
    delete s;
    throw Napi::Error::New(env, "fuse_session_new failed (unknown mount option?)");
  }
  if (fuse_session_mount(s->se, mountpoint.c_str()) != 0) {
    fuse_session_destroy(s->se);
    delete s;
    throw Napi::Error::New(env, "mounting " + mountpoint + " failed (see the libfuse message above)");
  }
  // Our own reads and writes of /dev/fuse (the passthrough negotiation: see "Passthrough").
  if (s->ptWanted && fuse_session_custom_io(s->se, &kIo, fuse_session_fd(s->se)) != 0) s->ptWanted = false;
  s->tsfn = Napi::ThreadSafeFunction::New(env, info[2].As<Napi::Function>(), "loft-fuse", 0, 1);
  if (s->jsLoop ? !StartJsLoop(env, s, info[2].As<Napi::Function>())
                : pthread_create(&s->thread, nullptr, LoopMain, s) != 0) {
    fuse_session_unmount(s->se);
    fuse_session_destroy(s->se);
    s->tsfn.Release();
    delete s;
    throw Napi::Error::New(env, "cannot start the FUSE thread");
  }
  return Napi::External<Session>::New(env, s);
}

// umountDetach(mountpoint) -> 0 | -errno: lazy unmount as root (the loop ends once the kernel
// releases the connection); others use fusermount.
Napi::Value UmountDetach(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "expected a path");
  std::string mnt = info[0].As<Napi::String>().Utf8Value();
  int res = umount2(mnt.c_str(), MNT_DETACH);
  return Napi::Number::New(info.Env(), res == 0 ? 0 : -errno);
}

class NotifyWorker : public Napi::AsyncWorker {
 public:
  NotifyWorker(Napi::Env env, Session *s, uint64_t ino, std::string name, bool entry)
      : Napi::AsyncWorker(env), s_(s), ino_(ino), name_(std::move(name)), entry_(entry),
        deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    // On a libuv pool thread: the kernel may wait here for a lock held by a request that the
    // JavaScript thread has yet to answer.
    pthread_rwlock_rdlock(&s_->lock);
    if (s_->closed || s_->se == nullptr) {
      res_ = -ENOTCONN;
    } else if (entry_) {
      res_ = fuse_lowlevel_notify_inval_entry(s_->se, ino_, name_.c_str(), name_.size());
    } else {
      res_ = fuse_lowlevel_notify_inval_inode(s_->se, ino_, 0, 0);
    }
    pthread_rwlock_unlock(&s_->lock);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), res_)); }
  void OnError(const Napi::Error &e) override { deferred_.Resolve(Napi::Number::New(Env(), -ECANCELED)); }

 private:
  Session *s_;
  uint64_t ino_;
  std::string name_;
  bool entry_;
  int res_ = 0;
  Napi::Promise::Deferred deferred_;
};

// notifyInvalEntry(session, parent, name) -> Promise<0 | -errno>
Napi::Value NotifyInvalEntry(const Napi::CallbackInfo &info) {
  Session *s = SessionArg(info, 0);
  uint64_t parent = static_cast<uint64_t>(NumArg(info, 1));
  if (info.Length() < 3 || !info[2].IsString()) throw Napi::TypeError::New(info.Env(), "expected a name");
  auto *w = new NotifyWorker(info.Env(), s, parent, info[2].As<Napi::String>().Utf8Value(), true);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// notifyInvalInode(session, ino) -> Promise<0 | -errno>: drops attributes and cached pages.
Napi::Value NotifyInvalInode(const Napi::CallbackInfo &info) {
  Session *s = SessionArg(info, 0);
  uint64_t ino = static_cast<uint64_t>(NumArg(info, 1));
  auto *w = new NotifyWorker(info.Env(), s, ino, std::string(), false);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// pending(session) -> requests delivered to JavaScript and not answered yet (for tests).
Napi::Value Pending(const Napi::CallbackInfo &info) {
  Session *s = SessionArg(info, 0);
  return Napi::Number::New(info.Env(), static_cast<double>(s->pending + s->queued.load()));
}

// publishReads(session, fh, fileSize, starts, ends, fileOffs, paths, hashes): adds ranges of an
// open handle served from cache files (see "reads answered here"); Float64Arrays and string arrays
// of one length. Returns the handle's segment count.
Napi::Value PublishReads(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Session *s = SessionArg(info, 0);
  uint64_t fh = static_cast<uint64_t>(NumArg(info, 1));
  uint64_t size = static_cast<uint64_t>(NumArg(info, 2));
  for (size_t i = 3; i <= 5; i++)
    if (info.Length() <= i || !info[i].IsTypedArray() ||
        info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw Napi::TypeError::New(env, "expected Float64Arrays of starts, ends and file offsets");
  if (info.Length() < 8 || !info[6].IsArray() || !info[7].IsArray())
    throw Napi::TypeError::New(env, "expected arrays of paths and hashes");
  Napi::Float64Array starts = info[3].As<Napi::Float64Array>(), ends = info[4].As<Napi::Float64Array>(),
                     offs = info[5].As<Napi::Float64Array>();
  Napi::Array paths = info[6].As<Napi::Array>(), hashes = info[7].As<Napi::Array>();
  size_t n = starts.ElementLength();
  if (ends.ElementLength() != n || offs.ElementLength() != n || paths.Length() != n || hashes.Length() != n)
    throw Napi::TypeError::New(env, "publishReads: arrays of different lengths");
  std::vector<Seg> add;
  add.reserve(n);
  for (size_t i = 0; i < n; i++) {
    Seg g;
    g.start = static_cast<uint64_t>(starts[i]);
    g.end = static_cast<uint64_t>(ends[i]);
    g.fileOff = static_cast<uint64_t>(offs[i]);
    if (!(starts[i] >= 0 && ends[i] > starts[i] && offs[i] >= 0))
      throw Napi::RangeError::New(env, "publishReads: bad range");
    Napi::Value pv = paths.Get(static_cast<uint32_t>(i)), hv = hashes.Get(static_cast<uint32_t>(i));
    if (!pv.IsString() || !hv.IsString()) throw Napi::TypeError::New(env, "publishReads: expected strings");
    g.path = pv.As<Napi::String>().Utf8Value();
    g.hash = hv.As<Napi::String>().Utf8Value();
    add.push_back(std::move(g));
  }
  pthread_rwlock_wrlock(&s->pubLock);
  Pub &p = s->pubs[fh];
  p.size = size;
  for (auto &g : add) p.segs.push_back(std::move(g));
  std::stable_sort(p.segs.begin(), p.segs.end(), [](const Seg &a, const Seg &b) { return a.start < b.start; });
  // Overlaps (a range published twice) keep the first: both say the same bytes.
  std::vector<Seg> merged;
  merged.reserve(p.segs.size());
  for (auto &g : p.segs) {
    if (!merged.empty() && g.start < merged.back().end) continue;
    merged.push_back(std::move(g));
  }
  p.segs.swap(merged);
  size_t count = p.segs.size();
  s->pubCount.store(s->pubs.size(), std::memory_order_release);
  pthread_rwlock_unlock(&s->pubLock);
  return Napi::Number::New(env, static_cast<double>(count));
}

// withdrawReads(session, fh, hash?) -> segments removed: all of the handle's, or those of one block.
// Returns once no worker is still reading through them.
Napi::Value WithdrawReads(const Napi::CallbackInfo &info) {
  Session *s = SessionArg(info, 0);
  uint64_t fh = static_cast<uint64_t>(NumArg(info, 1));
  bool one = info.Length() >= 3 && info[2].IsString();
  std::string hash = one ? info[2].As<Napi::String>().Utf8Value() : std::string();
  size_t removed = 0;
  pthread_rwlock_wrlock(&s->pubLock);
  auto it = s->pubs.find(fh);
  if (it != s->pubs.end()) {
    if (!one) {
      removed = it->second.segs.size();
      s->pubs.erase(it);
    } else {
      auto &segs = it->second.segs;
      size_t before = segs.size();
      segs.erase(std::remove_if(segs.begin(), segs.end(), [&](const Seg &g) { return g.hash == hash; }),
                 segs.end());
      removed = before - segs.size();
      if (segs.empty()) s->pubs.erase(it);
    }
  }
  s->pubCount.store(s->pubs.size(), std::memory_order_release);
  pthread_rwlock_unlock(&s->pubLock);
  return Napi::Number::New(info.Env(), static_cast<double>(removed));
}

// drainReads(session) -> {reads, bytes, fallbacks, hashes, counts}: what workers served since the
// last drain (JavaScript's accounting of reads it never saw), and the counts reset.
Napi::Value DrainReads(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Session *s = SessionArg(info, 0);
  std::unordered_map<std::string, uint64_t> hits;
  uint64_t reads, bytes, fallbacks;
  {
    std::lock_guard<std::mutex> g(s->statsMu);
    hits.swap(s->hits);
    reads = s->cachedReads;
    bytes = s->cachedBytes;
    fallbacks = s->cachedFallbacks;
    s->cachedReads = s->cachedBytes = s->cachedFallbacks = 0;
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("reads", static_cast<double>(reads));
  o.Set("bytes", static_cast<double>(bytes));
  o.Set("fallbacks", static_cast<double>(fallbacks));
  Napi::Array hashes = Napi::Array::New(env, hits.size());
  Napi::Float64Array counts = Napi::Float64Array::New(env, hits.size());
  uint32_t i = 0;
  for (auto &kv : hits) {
    hashes.Set(i, kv.first);
    counts[i] = static_cast<double>(kv.second);
    i++;
  }
  o.Set("hashes", hashes);
  o.Set("counts", counts);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abi", Napi::Number::New(env, 3));
  exports.Set("libfuseVersion", Napi::Number::New(env, fuse_version()));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("umountDetach", Napi::Function::New(env, UmountDetach));
  exports.Set("notifyInvalEntry", Napi::Function::New(env, NotifyInvalEntry));
  exports.Set("notifyInvalInode", Napi::Function::New(env, NotifyInvalInode));
  exports.Set("pending", Napi::Function::New(env, Pending));
  exports.Set("publishReads", Napi::Function::New(env, PublishReads));
  exports.Set("withdrawReads", Napi::Function::New(env, WithdrawReads));
  exports.Set("drainReads", Napi::Function::New(env, DrainReads));
  exports.Set("backingOpen", Napi::Function::New(env, BackingOpen));
  exports.Set("backingClose", Napi::Function::New(env, BackingClose));
  exports.Set("replyErr", Napi::Function::New(env, ReplyErr));
  exports.Set("replyNone", Napi::Function::New(env, ReplyNone));
  exports.Set("replyEntry", Napi::Function::New(env, ReplyEntry));
  exports.Set("replyCreate", Napi::Function::New(env, ReplyCreate));
  exports.Set("replyAttr", Napi::Function::New(env, ReplyAttr));
  exports.Set("replyReadlink", Napi::Function::New(env, ReplyReadlink));
  exports.Set("replyOpen", Napi::Function::New(env, ReplyOpen));
  exports.Set("replyWrite", Napi::Function::New(env, ReplyWrite));
  exports.Set("replyBuf", Napi::Function::New(env, ReplyBuf));
  exports.Set("replyStatfs", Napi::Function::New(env, ReplyStatfs));
  exports.Set("replyXattr", Napi::Function::New(env, ReplyXattr));
  exports.Set("replyDir", Napi::Function::New(env, ReplyDir));
  loft::InitBlockIo(env, exports);
  loft::InitCdc(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(loft_fuse, Init)
