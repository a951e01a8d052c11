// Dropout for the CPU with a counter-based mask: out[i] = x[i] * scale where element i is kept,
// 0 where it is dropped. Whether element i is kept depends only on (seed, i), so the backward
// applies the same call to the incoming gradient instead of saving a mask, and the result is
// the same for every thread count and instruction set.
//
// The mask. Element i (its index in the contiguous tensor) is kept when a 32-bit hash of
// (seed, i) is at least `threshold` (= p * 2^32, rounded). The hash is two rounds of Chris
// Wellons' "lowbias32" integer finaliser (a bijection on 32 bits with near-ideal avalanche):
// the first over the index's low 32 bits mixed with one half of the key, the second over its
// result mixed with the other half and the index's high bits; the two key halves come from the
// 64-bit seed through SplitMix64's finaliser. Within each block of 2^32 elements the hashes are
// a permutation of the 32-bit numbers. It is not Philox (what cuRAND and Triton draw dropout
// masks from), nor a stream for statistics: it is a cheap, well-mixed keyed hash, tested for
// its keep rate, for independence between neighbours and between seeds (tests/kernels/test_dropout.py).
//
// Plain C++ with no torch headers, called through ctypes by ../__init__.py. Vectorised with
// GCC vector types of W 32-bit lanes (16 with AVX-512, 8 with AVX2, 4 otherwise, chosen at run
// time); threads take contiguous ranges from the shared persistent pool.

#include <Python.h>

#include <algorithm>
#include <cstdint>

#include "../../csrc/vector_kernels.h"

namespace {

template <int W>
struct Words {
  typedef uint32_t u __attribute__((vector_size(4 * W)));
};
template <int W>
using vu = typename Words<W>::u;

template <typename T>
TSSSM_INLINE T lowbias32(T x) {
  x ^= x >> 16;
  x *= 0x21f0aaadu;
  x ^= x >> 15;
  x *= 0x735a2d97u;
  x ^= x >> 15;
  return x;
}

struct Key {
  uint32_t k0, k1;
};

Key key_of(uint64_t seed) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ull;  // SplitMix64's output function
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return {static_cast<uint32_t>(z), static_cast<uint32_t>(z >> 32)};
}

// The hash of element indices `low` (their low 32 bits) whose high 32 bits are `high`.
template <typename T>
TSSSM_INLINE T element_hash(T low, uint32_t high, Key key) {
  return lowbias32<T>(lowbias32<T>(low ^ key.k0) + (key.k1 ^ (high * 0x9e3779b9u)));
}

// out[i] = keep(i) ? x[i] * scale : 0 for i in [begin, end).
template <int W>
TSSSM_INLINE void dropout_range(const float* x, float* out, int64_t begin, int64_t end,
                                Key key, uint32_t threshold, float scale) {
  vu<W> lanes;
  for (int j = 0; j < W; ++j) lanes[j] = static_cast<uint32_t>(j);
  int64_t i = begin;
  for (; i + W <= end; i += W) {
    const vu<W> h = element_hash<vu<W>>(lanes + static_cast<uint32_t>(i),
                                        static_cast<uint32_t>(static_cast<uint64_t>(i) >> 32),
                                        key);
    // A block of W never crosses a multiple of 2^32 where it starts on a multiple of W.
    const vi<W> keep = (vi<W>)(h >= threshold);
    const vf<W> v = load_floats<W>(x + i, W) * scale;
    store_floats<W>((vf<W>)((vi<W>)v & keep), out + i, W);
  }
  for (; i < end; ++i) {
    const uint32_t h = element_hash<uint32_t>(static_cast<uint32_t>(i),
                                              static_cast<uint32_t>(static_cast<uint64_t>(i) >> 32),
                                              key);
    out[i] = h >= threshold ? x[i] * scale : 0.0f;
  }
}

#define DROPOUT_ISA_KERNEL(NAME, TARGET, W)                                                  \
  TARGET void NAME##_dropout(const float* x, float* out, int64_t begin, int64_t end,        \
                             Key key, uint32_t threshold, float scale) {                     \
    dropout_range<W>(x, out, begin, end, key, threshold, scale);                             \
  }

#if defined(__x86_64__)
DROPOUT_ISA_KERNEL(avx512, __attribute__((target("avx512f,avx2,fma"), flatten)), 16)
DROPOUT_ISA_KERNEL(avx2, __attribute__((target("avx2,fma"), flatten)), 8)
#endif
DROPOUT_ISA_KERNEL(generic, __attribute__((flatten)), 4)

// Elements per thread at least (fewer and the wake-up costs more than the work), and the
// alignment of each thread's range (a multiple of every W, so that vector blocks stay whole).
constexpr int64_t kMinPerThread = 1 << 16;
constexpr int64_t kAlign = 64;

}  // namespace

extern "C" {

// Version of this C interface; the Python loader refuses a library built from other sources.
int tsssm_dropout_abi_version() { return 1; }

// Name of instruction set `isa` (0 generic, 1 AVX2, 2 AVX-512); -1: the one used by default.
const char* tsssm_dropout_isa_name(int isa) { return kIsaNames[resolve_isa(isa)]; }

// Whether this CPU can run instruction set `isa`.
int tsssm_dropout_isa_supported(int isa) { return isa >= 0 && isa <= kAvx512 && isa_supported(isa); }

// out[i] = x[i] * scale if element i is kept under `seed`, else 0, for i in [0, n); `x` and
// `out` may be the same buffer. Returns 0, or -1 for a negative n.
int tsssm_dropout(const float* x, float* out, int64_t n, uint64_t seed, uint32_t threshold,
                  float scale, int isa, int threads) {
  if (n < 0) return -1;
  const Key key = key_of(seed);
  const int chosen = resolve_isa(isa);
  const int64_t blocks = (n + kAlign - 1) / kAlign;
  const int use = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>(threads, n / kMinPerThread)));
  parallel_tiles(blocks, use, [&](int, int64_t first, int64_t last) {
    const int64_t begin = first * kAlign, end = std::min(n, last * kAlign);
#if defined(__x86_64__)
    if (chosen == kAvx512) return avx512_dropout(x, out, begin, end, key, threshold, scale);
    if (chosen == kAvx2) return avx2_dropout(x, out, begin, end, key, threshold, scale);
#endif
    generic_dropout(x, out, begin, end, key, threshold, scale);
  });
  return 0;
}

}  // extern "C"

// An empty Python module, so that the library installs as an ordinary extension module.
static struct PyModuleDef cpu_dropout_module = {PyModuleDef_HEAD_INIT, "_cpu_dropout",
                                                "CPU dropout with counter-based masks (called via ctypes).",
                                                -1, nullptr};

PyMODINIT_FUNC PyInit__cpu_dropout(void) { return PyModule_Create(&cpu_dropout_module); }
