// Content-defined chunk boundaries in C++ (src/client/chunk/cdc.ts): the same boundaries as
// fastcdc-wasm (the fastcdc crate 1.0.5, which the web client and older drives use), computed ~3×
// faster than the wasm build on this project's machines, so a new file's chunking costs the chunk
// worker less CPU while the upload shares the cores with it.
//
// The algorithm, as that crate documents it: a chunk starting at s is at least `min` bytes; from
// s + min a 32-bit gear hash h = (h >> 1) + gear[byte] runs over the bytes, and the chunk ends
// after the first byte where h & mask is zero. The mask is the "hard" one (bits + 1 low bits set,
// bits = log2(avg) rounded) up to the normal point, avg - min(avg, min + ceil(min / 2)) bytes from
// s, then the "easy" one (bits - 1 bits). No cut within `max` bytes: the chunk is `max` bytes;
// `min` bytes or fewer left: they are the last chunk.
//
// The gear table is not written here: the caller passes it (cdc.ts derives it from its definition,
// AES-256-CTR of zeros), and a test holds the result equal to fastcdc-wasm's on many inputs.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace loft {

namespace {

struct Params {
  size_t min, avg, max;
  uint32_t maskHard, maskEasy;
};

// Length of the chunk that starts at p, with `left` bytes from p to the end of the input.
size_t Cut(const uint8_t *p, size_t left, const Params &k, const uint32_t *gear) {
  if (left <= k.min) return left;
  size_t size = left < k.max ? left : k.max;
  size_t skip = k.min + (k.min + 1) / 2;
  if (skip > k.avg) skip = k.avg;
  size_t normal = k.avg - skip;
  if (normal > size) normal = size;
  uint32_t h = 0;
  size_t i = k.min;
  for (; i < normal; i++) {
    h = (h >> 1) + gear[p[i]];
    if ((h & k.maskHard) == 0) return i + 1;
  }
  for (; i < size; i++) {
    h = (h >> 1) + gear[p[i]];
    if ((h & k.maskEasy) == 0) return i + 1;
  }
  return size;
}

// cdcStarts(data: Uint8Array, min, avg, max, gear: Uint32Array(256)) -> Uint32Array: the start of
// every chunk of `data` taken as a whole input (its end is the end of the input).
Napi::Value CdcStarts(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsTypedArray() || !info[4].IsTypedArray())
    throw Napi::TypeError::New(env, "cdcStarts: expected (data, min, avg, max, gear)");
  auto data = info[0].As<Napi::TypedArray>();
  auto gearArr = info[4].As<Napi::TypedArray>();
  if (data.TypedArrayType() != napi_uint8_array || gearArr.TypedArrayType() != napi_uint32_array ||
      gearArr.ElementLength() != 256)
    throw Napi::TypeError::New(env, "cdcStarts: data must be a Uint8Array, gear a Uint32Array of 256");
  double min = info[1].As<Napi::Number>().DoubleValue();
  double avg = info[2].As<Napi::Number>().DoubleValue();
  double max = info[3].As<Napi::Number>().DoubleValue();
  // The crate's own limits (it panics outside them, so fastcdc-wasm throws).
  if (!(min >= 64 && min <= 67108864 && avg >= 256 && avg <= 268435456 && max >= 1024 && max <= 1073741824))
    throw Napi::RangeError::New(env, "cdcStarts: chunk sizes outside fastcdc's limits");
  if (data.ByteLength() > UINT32_MAX) throw Napi::RangeError::New(env, "cdcStarts: input over 4 GiB");
  Params k;
  k.min = static_cast<size_t>(min);
  k.avg = static_cast<size_t>(avg);
  k.max = static_cast<size_t>(max);
  // log2 rounded to the nearest integer, as the crate computes it (f64 log2, then round).
  int bits = static_cast<int>(std::lround(std::log2(static_cast<double>(static_cast<uint32_t>(k.avg)))));
  k.maskHard = static_cast<uint32_t>((uint64_t{1} << (bits + 1)) - 1);
  k.maskEasy = static_cast<uint32_t>((uint64_t{1} << (bits - 1)) - 1);

  auto *bytes = static_cast<const uint8_t *>(data.ArrayBuffer().Data()) + data.ByteOffset();
  auto *gear = reinterpret_cast<const uint32_t *>(static_cast<const uint8_t *>(gearArr.ArrayBuffer().Data()) +
                                                  gearArr.ByteOffset());
  size_t len = data.ByteLength();
  std::vector<uint32_t> starts;
  starts.reserve(len / (k.avg ? k.avg : 1) + 2);
  for (size_t at = 0; at < len;) {
    starts.push_back(static_cast<uint32_t>(at));
    at += Cut(bytes + at, len - at, k, gear);
  }
  auto out = Napi::Uint32Array::New(env, starts.size());
  for (size_t i = 0; i < starts.size(); i++) out[i] = starts[i];
  return out;
}

}  // namespace

void InitCdc(Napi::Env env, Napi::Object exports) {
  exports.Set("cdcStarts", Napi::Function::New(env, CdcStarts));
}

}  // namespace loft
