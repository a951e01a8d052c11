// Vector building blocks shared by the fused CPU kernels (selective_scan/csrc/cpu_scan.cpp
// and scan2d/csrc/cpu_scan2d.cpp): GCC/Clang vector types of W floats, exp2 / exp / sigmoid /
// softplus on them, W x W transposes, lane sums in a fixed order, partial loads and stores,
// moving tiles of W rows between row-major buffers and step-major scratch, per-thread
// scratch, the instruction sets chosen at run time and a persistent worker pool.
//
// Everything here has internal linkage (an unnamed namespace): each kernel library gets its
// own copy compiled for its own targets, and no symbol of one can interpose on the other's
// when both are loaded into one process.

#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Vector arguments of always-inlined helpers never cross an ABI boundary.
#pragma GCC diagnostic ignored "-Wpsabi"
// A kernel library uses only some of these internal-linkage helpers.
#pragma GCC diagnostic ignored "-Wunused-function"

#define TSSSM_INLINE inline __attribute__((always_inline))

namespace {

// GCC drops attributes of alias templates, so the vector types live in a class template.
template <int W>
struct Vectors {
  typedef float f __attribute__((vector_size(4 * W)));
  typedef int32_t i __attribute__((vector_size(4 * W)));
};
template <int W>
using vf = typename Vectors<W>::f;
template <int W>
using vi = typename Vectors<W>::i;

// ----------------------------------------------------------------------------------------
// Vector maths (every helper is inlined into an ISA-specific caller and compiled for it).

template <int W>
TSSSM_INLINE vf<W> splat(float x) {
  return vf<W>{} + x;
}

template <int W>
TSSSM_INLINE vf<W> vmax(vf<W> a, vf<W> b) {
  return a > b ? a : b;
}

template <int W>
TSSSM_INLINE vf<W> vmin(vf<W> a, vf<W> b) {
  return a < b ? a : b;
}

// The value of v, hidden from the optimiser: with a constant operand GCC compiles max and
// min above to a compare and a blend, with an opaque one to a single max or min instruction.
template <int W>
TSSSM_INLINE vf<W> opaque(vf<W> v) {
#if defined(__x86_64__)
  __asm__("" : "+x"(v));
#endif
  return v;
}

constexpr float kLog2e = 1.44269504088896341f;

// 2^f for f in [-0.5, 0.5]: a degree-5 polynomial fitted for relative error (1.8e-7 at most
// in float32).
template <int W>
TSSSM_INLINE vf<W> exp2_reduced(vf<W> f) {
  vf<W> p = splat<W>(1.3264817243e-3f);
  p = p * f + 9.6715126787e-3f;
  p = p * f + 5.5507334328e-2f;
  p = p * f + 2.4022242085e-1f;
  p = p * f + 6.9314697784e-1f;
  return p * f + 1.0f;
}

#if defined(__x86_64__)
// AVX-512 rounds to an integer and scales by a power of two (underflowing to zero and
// overflowing to infinity as exp does) in one instruction each, so it needs no clamping.
// Not always_inline: GCC would then inline it into default-target copies of its callers and
// fail; the AVX-512 kernels are `flatten`, which inlines it there.
__attribute__((target("avx512f"))) inline vf<16> exp2_avx512(vf<16> x) {
  // The masked forms, with every lane selected, avoid the unmasked ones' undefined source.
  const vf<16> k =
      _mm512_mask_roundscale_ps(x, 0xFFFF, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm512_mask_scalef_ps(k, 0xFFFF, exp2_reduced<16>(x - k), k);
}
#endif

// 2^x. Elsewhere: round to the nearest integer k with the 1.5 * 2^23 trick and add k to the
// exponent bits; x is clamped to [-125, 126], where the result is a normal float (2^-125 ~
// 2.4e-38 stands for anything smaller). That needs IEEE evaluation of (x + m) - m, which is
// why setup.py does not pass -fassociative-math.
template <int W>
TSSSM_INLINE vf<W> exp2v(vf<W> x) {
#if defined(__x86_64__)
  if constexpr (W == 16) return exp2_avx512(x);
#endif
  x = vmin<W>(vmax<W>(x, opaque<W>(splat<W>(-125.0f))), opaque<W>(splat<W>(126.0f)));
  const vf<W> shifter = splat<W>(12582912.0f);
  const vf<W> k = x + shifter;
  const vf<W> p = exp2_reduced<W>(x - (k - shifter));
  // The low mantissa bits of k hold the integer; shifted to the exponent field they scale p.
  return (vf<W>)((vi<W>)p + ((vi<W>)k << 23));
}

template <int W>
TSSSM_INLINE vf<W> expv(vf<W> x) {
  return exp2v<W>(x * kLog2e);
}

template <int W>
TSSSM_INLINE vf<W> sigmoidv(vf<W> x) {
  return 1.0f / (1.0f + expv<W>(-x));
}

// softplus(x) = max(x, 0) + log1p(exp(-|x|)), stable for every x; log1p(e) for e in (0, 1]
// through 2 atanh(e / (2 + e)) as an odd polynomial.
template <int W>
TSSSM_INLINE vf<W> softplusv(vf<W> x) {
  const vf<W> e = expv<W>(vmin<W>(x, -x));
  const vf<W> s = e / (2.0f + e), s2 = s * s;
  vf<W> p = splat<W>(1.0f / 13.0f);
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return vmax<W>(x, splat<W>(0.0f)) + 2.0f * s * p;
}

// ----------------------------------------------------------------------------------------
// Shuffles, with constant lane indices generated at compile time.

// Lane i of stage `s` of a W x W transpose: rows r and r + s swap their lanes whose bit s
// differs from the row's (kHi: the result for row r + s).
template <int W, int S, bool kHi>
constexpr int transpose_lane(int i) {
  return kHi ? ((i & S) ? W + i : (i ^ S)) : ((i & S) ? W + (i ^ S) : i);
}

template <int W, int S, bool kHi, size_t... I>
TSSSM_INLINE vf<W> transpose_shuffle(vf<W> a, vf<W> b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, transpose_lane<W, S, kHi>(I)...);
}

template <int W, int S>
TSSSM_INLINE void transpose_stage(vf<W>* r) {
  if constexpr (S >= 1) {
    for (int i = 0; i < W; ++i) {
      if (i & S) continue;
      const vf<W> a = r[i], b = r[i + S];
      r[i] = transpose_shuffle<W, S, false>(a, b, std::make_index_sequence<W>{});
      r[i + S] = transpose_shuffle<W, S, true>(a, b, std::make_index_sequence<W>{});
    }
    transpose_stage<W, S / 2>(r);
  }
}

// In-place transpose of W vectors of W lanes: r[i][j] <- r[j][i].
template <int W>
TSSSM_INLINE void transpose(vf<W>* r) {
  transpose_stage<W, W / 2>(r);
}

// Lane i of a pairwise-sum stage with blocks of BS lanes: the even (or odd) blocks of the
// concatenation of two vectors.
template <int BS, bool kOdd>
constexpr int block_lane(int i) {
  return (i / BS) * 2 * BS + (i % BS) + (kOdd ? BS : 0);
}

template <int W, int BS, bool kOdd, size_t... I>
TSSSM_INLINE vf<W> block_shuffle(vf<W> a, vf<W> b, std::index_sequence<I...>) {
  return __builtin_shufflevector(a, b, block_lane<BS, kOdd>(I)...);
}

template <int W, int BS>
TSSSM_INLINE void lane_sum_stage(vf<W>* v, int count) {
  if constexpr (BS >= 1) {
    if (count > 1) {
      for (int p = 0; p < count / 2; ++p) {
        const vf<W> a = v[2 * p], b = v[2 * p + 1];
        v[p] = block_shuffle<W, BS, false>(a, b, std::make_index_sequence<W>{}) +
               block_shuffle<W, BS, true>(a, b, std::make_index_sequence<W>{});
      }
      count /= 2;
    } else {
      // One vector left holding partial sums in blocks of 2 BS lanes: halve the blocks.
      v[0] = block_shuffle<W, BS, false>(v[0], v[0], std::make_index_sequence<W>{}) +
             block_shuffle<W, BS, true>(v[0], v[0], std::make_index_sequence<W>{});
    }
    lane_sum_stage<W, BS / 2>(v, count);
  }
}

// Lane i < count of the result is the sum of the lanes of v[i] (v is overwritten), in a
// fixed order; count is a power of two <= W (the other lanes hold partial sums). Each lane
// is folded at distances W/2, W/4, ..., 1 whatever count is, so a smaller count gives the
// same sums as count = W with zero vectors after v[count - 1], in fewer shuffles.
template <int W>
TSSSM_INLINE vf<W> lane_sums(vf<W>* v, int count = W) {
  lane_sum_stage<W, W / 2>(v, count);
  return v[0];
}

// The power of two of lane_sums' count that covers n <= W vectors.
inline int lane_sum_count(int64_t n) {
  int count = 1;
  while (count < n) count *= 2;
  return count;
}

// ----------------------------------------------------------------------------------------
// Moving tiles between row-major [channel, length] rows and step-major scratch.

#if defined(__x86_64__)
// Masked loads and stores of the first m < W floats. Inserting them lane by lane instead
// costs a store-forwarding stall per float, which dominated short rows (S-Mamba scans 7 to
// 11 variate tokens: every tile is a partial block). Not always_inline, as exp2_avx512.
__attribute__((target("avx512f"))) inline vf<16> load_partial_avx512(const float* p,
                                                                      int64_t m) {
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << m) - 1), p);
}

__attribute__((target("avx512f"))) inline void store_partial_avx512(vf<16> v, float* p,
                                                                     int64_t m) {
  _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << m) - 1), v);
}

__attribute__((target("avx2"))) inline __m256i first_lanes_avx2(int64_t m) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(m)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2"))) inline vf<8> load_partial_avx2(const float* p, int64_t m) {
  return _mm256_maskload_ps(p, first_lanes_avx2(m));
}

__attribute__((target("avx2"))) inline void store_partial_avx2(vf<8> v, float* p,
                                                                int64_t m) {
  _mm256_maskstore_ps(p, first_lanes_avx2(m), v);
}
#endif

// The first m floats at p (the rest zero); a plain vector load when m == W.
template <int W>
TSSSM_INLINE vf<W> load_floats(const float* p, int64_t m) {
  vf<W> v{};
  if (m == W) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
#if defined(__x86_64__)
  if constexpr (W == 16) return load_partial_avx512(p, m);
  if constexpr (W == 8) return load_partial_avx2(p, m);
#endif
  for (int64_t j = 0; j < m; ++j) v[j] = p[j];
  return v;
}

template <int W>
TSSSM_INLINE void store_floats(vf<W> v, float* p, int64_t m) {
  if (m == W) {
    std::memcpy(p, &v, sizeof(v));
    return;
  }
#if defined(__x86_64__)
  if constexpr (W == 16) return store_partial_avx512(v, p, m);
  if constexpr (W == 8) return store_partial_avx2(v, p, m);
#endif
  for (int64_t j = 0; j < m; ++j) p[j] = v[j];
}

// x[c] += lane c of v, for c < w.
template <int W>
TSSSM_INLINE void add_lanes(vf<W> v, float* x, int w) {
  store_floats<W>(load_floats<W>(x, w) + v, x, w);
}

// dst[i * stride] (lane c) = rows[c * L + t0 + i] for i < nt, c < w; lanes c >= w are zero.
template <int W>
TSSSM_INLINE void load_tile(const float* rows, int64_t L, int w, int64_t t0, int64_t nt,
                            vf<W>* dst, int64_t stride = 1) {
  for (int64_t i0 = 0; i0 < nt; i0 += W) {
    const int64_t m = std::min<int64_t>(W, nt - i0);
    vf<W> block[W];
#pragma GCC unroll 16
    for (int c = 0; c < W; ++c)
      block[c] = c < w ? load_floats<W>(rows + c * L + t0 + i0, m) : vf<W>{};
    transpose<W>(block);
    for (int64_t j = 0; j < m; ++j) dst[(i0 + j) * stride] = block[j];
  }
}


// The inverse of load_tile: rows[c * L + t0 + i] = src[i] (lane c) for i < nt, c < w (or
// += with kAdd).
template <int W, bool kAdd = false>
TSSSM_INLINE void store_tile(const vf<W>* src, int64_t L, int w, int64_t t0, int64_t nt,
                             float* rows) {
  for (int64_t i0 = 0; i0 < nt; i0 += W) {
    const int64_t m = std::min<int64_t>(W, nt - i0);
    vf<W> block[W];
#pragma GCC unroll 16
    for (int j = 0; j < W; ++j) block[j] = j < m ? src[i0 + j] : vf<W>{};
    transpose<W>(block);
#pragma GCC unroll 16
    for (int c = 0; c < W; ++c)
      if (c < w) {
        float* row = rows + c * L + t0 + i0;
        store_floats<W>(kAdd ? load_floats<W>(row, m) + block[c] : block[c], row, m);
      }
  }
}

// ----------------------------------------------------------------------------------------
// Per-thread scratch, kept between calls so that no call allocates once warmed up.

float* thread_scratch(size_t floats) {
  struct Buffer {
    float* data = nullptr;
    size_t capacity = 0;
    ~Buffer() { std::free(data); }
  };
  thread_local Buffer buffer;
  if (floats > buffer.capacity) {
    std::free(buffer.data);
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    buffer.data = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!buffer.data) throw std::bad_alloc();
    buffer.capacity = bytes / sizeof(float);
  }
  return buffer.data;
}

// Hands out consecutive vector arrays from the thread's scratch.
template <int W>
struct ScratchLayout {
  size_t floats = 0;
  size_t take(int64_t vectors) {
    const size_t at = floats;
    floats += vectors * W;
    return at;
  }
};

// ----------------------------------------------------------------------------------------
// Instruction sets, chosen at run time.

enum Isa : int { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };
const char* const kIsaNames[] = {"generic", "avx2", "avx512"};

int isa_width(int isa) { return isa == kAvx512 ? 16 : isa == kAvx2 ? 8 : 4; }

bool isa_supported(int isa) {
#if defined(__x86_64__)
  if (isa == kAvx512) return __builtin_cpu_supports("avx512f");
  if (isa == kAvx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return isa == kGeneric;
}

int best_isa() {
  for (int isa : {kAvx512, kAvx2})
    if (isa_supported(isa)) return isa;
  return kGeneric;
}

// A requested ISA the CPU lacks (or -1) means the best one it has.
int resolve_isa(int isa) { return isa >= 0 && isa <= kAvx512 && isa_supported(isa) ? isa : best_isa(); }

// fn(std::integral_constant<int, NS>) with NS = state for the state sizes the kernels unroll
// (their states then live in registers: S-Mamba's 2, the 4 to 16 of Mamba and Chimera), NS =
// 0 (sized at run time) for any other.
template <typename Fn>
void for_state_size(int64_t state, Fn fn) {
  switch (state) {
    case 2: fn(std::integral_constant<int, 2>{}); break;
    case 4: fn(std::integral_constant<int, 4>{}); break;
    case 8: fn(std::integral_constant<int, 8>{}); break;
    case 16: fn(std::integral_constant<int, 16>{}); break;
    default: fn(std::integral_constant<int, 0>{}); break;
  }
}

// ----------------------------------------------------------------------------------------
// Threads: a pool started on first use and kept, so that a call costs a wake-up, not a
// thread start.

class WorkerPool {
 public:
  // Runs fn(i) for i in [0, n), i = 0 on the calling thread; returns when all have finished.
  void run(int n, const std::function<void(int)>& fn) {
    std::lock_guard<std::mutex> one_call(call_mutex_);
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (static_cast<int>(workers_.size()) < n - 1) {
        workers_.emplace_back(&WorkerPool::work, this, static_cast<int>(workers_.size()) + 1);
        workers_.back().detach();
      }
      job_ = &fn;
      wanted_ = n;
      remaining_ = n - 1;
      ++round_;
    }
    wake_.notify_all();
    fn(0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return remaining_ == 0; });
  }

 private:
  void work(int index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return round_ != seen; });
      seen = round_;
      if (index >= wanted_) continue;
      const std::function<void(int)>* job = job_;
      lock.unlock();
      (*job)(index);
      lock.lock();
      if (--remaining_ == 0) done_.notify_one();
    }
  }

  std::mutex call_mutex_;  // one parallel call at a time
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  int wanted_ = 0, remaining_ = 0;
  uint64_t round_ = 0;
};

// Never destroyed: its detached threads may outlive static destruction at exit.
WorkerPool* pool = nullptr;

WorkerPool& worker_pool() {
  static std::once_flag once;
  std::call_once(once, [] {
    pool = new WorkerPool();
#if defined(__unix__) || defined(__APPLE__)
    // A forked child has none of the parent's threads: give it a fresh pool (the old one
    // leaks, it may be locked).
    pthread_atfork(nullptr, nullptr, [] { pool = new WorkerPool(); });
#endif
  });
  return *pool;
}

// Runs fn(thread, tile_begin, tile_end) over contiguous tile ranges, one per thread.
template <typename Fn>
void parallel_tiles(int64_t tiles, int threads, Fn fn) {
  const int64_t per = (tiles + threads - 1) / threads;
  const std::function<void(int)> job = [&](int i) {
    const int64_t begin = i * per, end = std::min(tiles, begin + per);
    if (begin < end) fn(i, begin, end);
  };
  if (threads == 1)
    job(0);
  else
    worker_pool().run(threads, job);
}

}  // namespace
