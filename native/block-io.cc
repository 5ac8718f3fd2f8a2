// Block I/O off the JavaScript thread, for the drive's cold reads (src/client/hydrate/block-io.ts):
// the SHA-256 of a downloaded block and the write of a cache file, each one job on libuv's thread
// pool that answers a promise. The JavaScript thread only starts the job and takes the answer; a
// cache write is one job (open + write + close) instead of three round trips through node's fs.
// The buffer is held (a reference) until the job is done; nothing here writes to it.
#include <napi.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <unistd.h>

namespace loft {

namespace {

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
    static const char digits[] = "0123456789abcdef";
    hex_.resize(n * 2);
    for (unsigned int i = 0; i < n; i++) {
      hex_[2 * i] = digits[md[i] >> 4];
      hex_[2 * i + 1] = digits[md[i] & 15];
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::String::New(Env(), hex_)); }
  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  std::string hex_;
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

Napi::Value Sha256(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsBuffer()) throw Napi::TypeError::New(info.Env(), "sha256: expected a Buffer");
  auto *job = new Sha256Job(info.Env(), info[0].As<Napi::Buffer<uint8_t>>());
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

Napi::Value WriteFile(const Napi::CallbackInfo &info) {
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsBuffer())
    throw Napi::TypeError::New(info.Env(), "writeFile: expected a path and a Buffer");
  auto *job = new WriteFileJob(info.Env(), info[1].As<Napi::Buffer<uint8_t>>(), info[0].As<Napi::String>());
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

}  // namespace

void InitBlockIo(Napi::Env env, Napi::Object exports) {
  exports.Set("sha256", Napi::Function::New(env, Sha256));
  exports.Set("writeFile", Napi::Function::New(env, WriteFile));
}

}  // namespace loft
