// Block I/O off the JavaScript thread, for the drive's cold reads (src/client/hydrate/block-io.ts):
// the SHA-256 of a downloaded block and the write of a cache file, each one job on libuv's thread
// pool that answers a promise. The JavaScript thread only starts the job and takes the answer; a
// cache write is one job (open + write + close) instead of three round trips through node's fs.
// The buffer is held (a reference) until the job is done; nothing here writes to it.
#include <napi.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

namespace loft {

namespace {

// Lowercase hex of a digest.
std::string Hex(const unsigned char *md, unsigned int n) {
  static const char digits[] = "0123456789abcdef";
  std::string hex(n * 2, '0');
  for (unsigned int i = 0; i < n; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  return hex;
}

class BufferJob : public Napi::AsyncWorker {
 public:
  BufferJob(Napi::Env env, Napi::Buffer<uint8_t> buf)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        ref_(Napi::Persistent(buf)),
        data_(buf.Data()),
        len_(buf.Length()) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Buffer<uint8_t>> ref_;
  const uint8_t *data_;
  size_t len_;
};

// sha256(buffer) -> Promise<string>: the lowercase hex SHA-256 of the buffer's bytes.
class Sha256Job : public BufferJob {
 public:
  using BufferJob::BufferJob;
  void Execute() override {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_Digest(data_, len_, md, &n, EVP_sha256(), nullptr) != 1) {
      SetError("SHA-256 failed");
      return;
    }
    hex_ = Hex(md, n);
  }
  void OnOK() override { deferred_.Resolve(Napi::String::New(Env(), hex_)); }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  std::string hex_;
};

// hashBlock(buffers, pieceSize) -> Promise<{hash, pieces}>: the lowercase hex SHA-256 of the
// buffers' bytes in order, and the 32-byte SHA-256 of each pieceSize piece of them, concatenated
// (the server's piece table, block-codec.ts). The server hashes uploaded blocks here, off its
// JavaScript thread (blockstore/block-body.ts). The buffers are held until the job is done.
class HashBlockJob : public Napi::AsyncWorker {
 public:
  HashBlockJob(Napi::Env env, Napi::Array buffers, size_t pieceSize)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        ref_(Napi::Persistent(buffers)),
        pieceSize_(pieceSize) {
    for (uint32_t i = 0; i < buffers.Length(); i++) {
      auto b = buffers.Get(i).As<Napi::Buffer<uint8_t>>();
      parts_.push_back({b.Data(), b.Length()});
    }
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    EVP_MD_CTX *whole = EVP_MD_CTX_new();
    EVP_MD_CTX *piece = EVP_MD_CTX_new();
    bool ok = whole && piece && EVP_DigestInit_ex(whole, EVP_sha256(), nullptr) == 1;
    size_t inPiece = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    for (const auto &part : parts_) {
      for (size_t at = 0; ok && at < part.second;) {
        if (inPiece == 0) ok = EVP_DigestInit_ex(piece, EVP_sha256(), nullptr) == 1;
        size_t take = std::min(pieceSize_ - inPiece, part.second - at);
        ok = ok && EVP_DigestUpdate(whole, part.first + at, take) == 1 &&
             EVP_DigestUpdate(piece, part.first + at, take) == 1;
        at += take;
        inPiece += take;
        if (ok && inPiece == pieceSize_) {
          ok = EVP_DigestFinal_ex(piece, md, &n) == 1;
          pieces_.append(reinterpret_cast<char *>(md), n);
          inPiece = 0;
        }
      }
    }
    if (ok && inPiece > 0) {
      ok = EVP_DigestFinal_ex(piece, md, &n) == 1;
      pieces_.append(reinterpret_cast<char *>(md), n);
    }
    ok = ok && EVP_DigestFinal_ex(whole, md, &n) == 1;
    EVP_MD_CTX_free(whole);
    EVP_MD_CTX_free(piece);
    if (!ok) {
      SetError("SHA-256 failed");
      return;
    }
    hex_ = Hex(md, n);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("hash", Napi::String::New(env, hex_));
    o.Set("pieces", Napi::Buffer<char>::Copy(env, pieces_.data(), pieces_.size()));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Array> ref_;
  std::vector<std::pair<const uint8_t *, size_t>> parts_;
  size_t pieceSize_;
  std::string hex_;
  std::string pieces_;
};

// writeFile(path, buffer) -> Promise<void>: creates or truncates the file and writes the buffer;
// rejects with an Error whose `code` is the errno's name (ENOSPC, EIO, ...).
class WriteFileJob : public BufferJob {
 public:
  WriteFileJob(Napi::Env env, Napi::Buffer<uint8_t> buf, std::string path)
      : BufferJob(env, buf), path_(std::move(path)) {}
  void Execute() override {
    int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      err_ = errno;
      return;
    }
    size_t done = 0;
    while (done < len_) {
      ssize_t n = write(fd, data_ + done, len_ - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err_ = n < 0 ? errno : EIO;
        break;
      }
      done += static_cast<size_t>(n);
    }
    if (close(fd) != 0 && err_ == 0 && errno != EINTR) err_ = errno;
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ == 0) {
      deferred_.Resolve(env.Undefined());
      return;
    }
    Napi::Error e = Napi::Error::New(env, std::string(strerrorname_np(err_) ? strerrorname_np(err_) : "EIO") +
                                              ": " + strerror(err_) + ", write '" + path_ + "'");
    e.Set("code", Napi::String::New(env, strerrorname_np(err_) ? strerrorname_np(err_) : "EIO"));
    e.Set("errno", Napi::Number::New(env, -err_));
    deferred_.Reject(e.Value());
  }

 private:
  std::string path_;
  int err_ = 0;
};

// The steps of a block store's write, each one job on the thread pool instead of one round trip
// through node's fs per system call (blockstore/fs-block-store.ts, block-flusher.ts). A job
// resolves undefined or rejects with an Error whose `code` is the errno's name and whose message
// names the call and the path, as node's fs errors do.
class FileStepJob : public Napi::AsyncWorker {
 public:
  FileStepJob(Napi::Env env, std::string a, std::string b = "")
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), a_(std::move(a)), b_(std::move(b)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_ == 0) return deferred_.Resolve(env.Undefined());
    const char *name = strerrorname_np(err_) ? strerrorname_np(err_) : "EIO";
    Napi::Error e = Napi::Error::New(env, std::string(name) + ": " + strerror(err_) + ", " + call_ + " '" + where_ + "'");
    e.Set("code", Napi::String::New(env, name));
    e.Set("errno", Napi::Number::New(env, -err_));
    e.Set("syscall", Napi::String::New(env, call_));
    deferred_.Reject(e.Value());
  }

 protected:
  // Records the first failure (errno now) of `call` on `where`; returns false so callers can chain.
  bool Fail(const char *call, const std::string &where, int err = errno) {
    if (err_ == 0) {
      err_ = err;
      call_ = call;
      where_ = where;
    }
    return false;
  }
  bool Close(int fd, const std::string &where) {
    if (close(fd) != 0 && errno != EINTR) return Fail("close", where);
    return true;
  }
  Napi::Promise::Deferred deferred_;
  std::string a_, b_;
  int err_ = 0;
  std::string call_, where_;
};

// A new block file's bytes go to the device by direct I/O, past the page cache, when the block is
// at least kDirectMin bytes: measured here (1 GiB as 1,024 files of 1 MiB, each fdatasynced, a C
// test), the kernel spent 2.2 s of CPU on buffered writes and their writeback against 0.1 s direct,
// and that was most of the server's CPU for a big upload (README "A new 1 GiB file"). The front of
// the file, a multiple of kDirectAlign, is copied into a per-thread aligned buffer and written
// direct; the tail (< kDirectAlign bytes) goes through the page cache (O_DIRECT is cleared); the
// later fdatasync (syncInto) makes both durable. A file system that refuses O_DIRECT (EINVAL at the
// open or a write) gets the rest written buffered, as smaller blocks always are.
constexpr size_t kDirectAlign = 4096;
constexpr size_t kDirectMin = 64 * 1024;

// One aligned buffer per pool thread, grown to the biggest block it has written (8 MiB at most:
// the block size limit), kept for the next.
struct AlignedBuffer {
  uint8_t *data = nullptr;
  size_t cap = 0;
  ~AlignedBuffer() { free(data); }
  bool Reserve(size_t n) {
    if (n <= cap) return true;
    void *p = nullptr;
    if (posix_memalign(&p, kDirectAlign, n) != 0) return false;
    free(data);
    data = static_cast<uint8_t *>(p);
    cap = n;
    return true;
  }
};
thread_local AlignedBuffer bounce;

// writeNew(path, buffers) -> Promise<number>: creates the file (it must not exist; mode 0600) and
// writes the buffers in order; resolves the number of bytes written by direct I/O (tests, and 0
// where the file system refused it). A partial file is left for the caller to remove.
class WriteNewJob : public FileStepJob {
 public:
  WriteNewJob(Napi::Env env, std::string file, Napi::Array buffers)
      : FileStepJob(env, std::move(file)), ref_(Napi::Persistent(buffers)) {
    for (uint32_t i = 0; i < buffers.Length(); i++) {
      auto b = buffers.Get(i).As<Napi::Buffer<uint8_t>>();
      if (b.Length() > 0) {
        iov_.push_back({b.Data(), b.Length()});
        total_ += b.Length();
      }
    }
  }
  void Execute() override {
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
    size_t aligned = total_ / kDirectAlign * kDirectAlign;
    bool direct = total_ >= kDirectMin && bounce.Reserve(aligned);
    int fd = open(a_.c_str(), flags | (direct ? O_DIRECT : 0), 0600);
    if (fd < 0 && direct && errno == EINVAL) {
      direct = false;
      fd = open(a_.c_str(), flags, 0600);
    }
    if (fd < 0) return (void)Fail("open", a_);
    if (direct) {
      Gather(bounce.data, aligned);
      size_t done = 0;
      while (done < aligned) {
        ssize_t n = write(fd, bounce.data + done, aligned - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EINVAL && ClearDirect(fd)) break;  // refused: the rest goes buffered
        if (n <= 0) {
          Fail("write", a_, n < 0 ? errno : EIO);
          Close(fd, a_);
          return;
        }
        done += static_cast<size_t>(n);
      }
      direct_ = done;
      Advance(done);
      if (done == aligned && aligned < total_ && !ClearDirect(fd)) {
        Fail("fcntl", a_);
        Close(fd, a_);
        return;
      }
    }
    while (first_ < iov_.size()) {
      ssize_t n = writev(fd, iov_.data() + first_, static_cast<int>(std::min<size_t>(iov_.size() - first_, IOV_MAX)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        Fail("write", a_, n < 0 ? errno : EIO);
        break;
      }
      Advance(static_cast<size_t>(n));
    }
    Close(fd, a_);
  }
  void OnOK() override {
    if (err_ == 0) return deferred_.Resolve(Napi::Number::New(Env(), static_cast<double>(direct_)));
    FileStepJob::OnOK();
  }

 private:
  // Copies the first n bytes of the iovecs to out.
  void Gather(uint8_t *out, size_t n) const {
    for (size_t i = 0; n > 0; i++) {
      size_t k = std::min(n, iov_[i].iov_len);
      memcpy(out, iov_[i].iov_base, k);
      out += k;
      n -= k;
    }
  }
  // Skips n written bytes: whole iovecs, then the front of a partly written one.
  void Advance(size_t n) {
    while (n > 0) {
      if (n >= iov_[first_].iov_len) {
        n -= iov_[first_].iov_len;
        first_++;
      } else {
        iov_[first_].iov_base = static_cast<uint8_t *>(iov_[first_].iov_base) + n;
        iov_[first_].iov_len -= n;
        n = 0;
      }
    }
  }
  static bool ClearDirect(int fd) {
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_DIRECT) == 0;
  }
  Napi::Reference<Napi::Array> ref_;
  std::vector<iovec> iov_;
  size_t first_ = 0;
  size_t total_ = 0;
  size_t direct_ = 0;
};

// syncInto(tmp, final) -> Promise<void>: fdatasyncs the temp file, then renames it to its final
// path, making that path's folder (and the one above it) first if it is missing. The folder entry
// is not synced here (fsyncDir, once per folder of a group).
class SyncIntoJob : public FileStepJob {
 public:
  using FileStepJob::FileStepJob;
  void Execute() override {
    int fd = open(a_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return (void)Fail("open", a_);
    bool ok = fdatasync(fd) == 0 || Fail("fdatasync", a_);
    if (!Close(fd, a_) || !ok) return;
    if (rename(a_.c_str(), b_.c_str()) == 0) return;
    if (errno != ENOENT) return (void)Fail("rename", b_);
    std::string dir = b_.substr(0, b_.rfind('/'));
    std::string parent = dir.substr(0, dir.rfind('/'));
    if (mkdir(parent.c_str(), 0777) != 0 && errno != EEXIST) return (void)Fail("mkdir", parent);
    if (mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) return (void)Fail("mkdir", dir);
    if (rename(a_.c_str(), b_.c_str()) != 0) Fail("rename", b_);
  }
};

// fsyncDir(dir) -> Promise<void>: makes the folder's entries durable.
class FsyncDirJob : public FileStepJob {
 public:
  using FileStepJob::FileStepJob;
  void Execute() override {
    int fd = open(a_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return (void)Fail("open", a_);
    if (fsync(fd) != 0) Fail("fsync", a_);
    Close(fd, a_);
  }
};

// Queues a job and returns its promise.
template <class Job>
Napi::Value Start(Job *job) {
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

// The array at info[i] if every element is a Buffer, else a TypeError naming `what`.
Napi::Array BufferArray(const Napi::CallbackInfo &info, size_t i, const char *what) {
  if (info.Length() <= i || !info[i].IsArray()) throw Napi::TypeError::New(info.Env(), what);
  auto buffers = info[i].As<Napi::Array>();
  for (uint32_t k = 0; k < buffers.Length(); k++)
    if (!buffers.Get(k).IsBuffer()) throw Napi::TypeError::New(info.Env(), what);
  return buffers;
}

Napi::Value Sha256(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(info.Env(), "sha256: expected a Buffer");
  return Start(new Sha256Job(info.Env(), info[0].As<Napi::Buffer<uint8_t>>()));
}

Napi::Value HashBlock(const Napi::CallbackInfo &info) {
  auto buffers = BufferArray(info, 0, "hashBlock: expected an array of Buffers and a piece size");
  if (info.Length() < 2 || !info[1].IsNumber())
    throw Napi::TypeError::New(info.Env(), "hashBlock: expected an array of Buffers and a piece size");
  double pieceSize = info[1].As<Napi::Number>().DoubleValue();
  if (!(pieceSize >= 1 && pieceSize <= 1 << 30)) throw Napi::RangeError::New(info.Env(), "hashBlock: bad piece size");
  return Start(new HashBlockJob(info.Env(), buffers, static_cast<size_t>(pieceSize)));
}

Napi::Value WriteNew(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsString())
    throw Napi::TypeError::New(info.Env(), "writeNew: expected a path and an array of Buffers");
  auto buffers = BufferArray(info, 1, "writeNew: expected a path and an array of Buffers");
  return Start(new WriteNewJob(info.Env(), info[0].As<Napi::String>(), buffers));
}

Napi::Value SyncInto(const Napi::CallbackInfo &info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
    throw Napi::TypeError::New(info.Env(), "syncInto: expected a temp path and a final path");
  std::string fin = info[1].As<Napi::String>();
  if (fin.find('/') == std::string::npos) throw Napi::TypeError::New(info.Env(), "syncInto: the final path needs a folder");
  return Start(new SyncIntoJob(info.Env(), info[0].As<Napi::String>(), fin));
}

Napi::Value FsyncDir(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "fsyncDir: expected a path");
  return Start(new FsyncDirJob(info.Env(), info[0].As<Napi::String>()));
}

Napi::Value WriteFile(const Napi::CallbackInfo &info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer())
    throw Napi::TypeError::New(info.Env(), "writeFile: expected a path and a Buffer");
  return Start(new WriteFileJob(info.Env(), info[1].As<Napi::Buffer<uint8_t>>(), info[0].As<Napi::String>()));
}

}  // namespace

void InitBlockIo(Napi::Env env, Napi::Object exports) {
  exports.Set("sha256", Napi::Function::New(env, Sha256));
  exports.Set("hashBlock", Napi::Function::New(env, HashBlock));
  exports.Set("writeNew", Napi::Function::New(env, WriteNew));
  exports.Set("syncInto", Napi::Function::New(env, SyncInto));
  exports.Set("fsyncDir", Napi::Function::New(env, FsyncDir));
  exports.Set("writeFile", Napi::Function::New(env, WriteFile));
}

}  // namespace loft
