// Fused selective scan for the CPU: forward and a backward that replays the scan in reverse.
//
// Plain C++ with no torch headers, so building it needs only a C++ compiler. Python calls the
// two exported functions through ctypes with raw float32 pointers (see ../cpu.py); the
// Python-module init below exists only so that setuptools can build and install it as an
// extension module.
//
// Layouts (all contiguous float32):
//   u, delta, z, out, grads of those : [batch, dim, length]
//   A, dA                            : [dim, state]
//   B, C (time-major!)               : [batch, groups, length, state]
//   h0, last, dh0, dlast             : [batch, dim, state]
//   D, delta_bias                    : [dim]
// Optional inputs are null pointers. Each (batch, channel) row is an independent scan; rows
// are split into contiguous ranges, one per thread. Sums over rows (dA, dD, ddelta_bias, dB,
// dC) go to per-thread buffers that Python adds up in a fixed order, so results are
// bit-identical from run to run for a given thread count.

#include <Python.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
// One build runs everywhere; the loader picks the widest vector unit this CPU has.
#define TSSSM_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TSSSM_MULTIVERSION
#endif

#if defined(__GNUC__)
// Helpers are inlined into each multiversioned caller, so they are compiled for its target.
#define TSSSM_INLINE inline __attribute__((always_inline))
#else
#define TSSSM_INLINE inline
#endif

namespace {

struct ScanArgs {
  const float* u;
  const float* delta;
  const float* A;
  const float* B;
  const float* C;
  const float* D;
  const float* z;
  const float* delta_bias;
  const float* h0;
  int64_t batch, dim, length, state, groups;
  int softplus, reverse;
  int64_t segment;  // backward segment length in steps; 0 picks a cache-sized one
};

// exp() that the compiler can vectorise (no libm call): Cody-Waite range reduction and a
// degree-6 polynomial, about 1 ulp on [-87, 88]; inputs below -87 return exp(-87) (~1e-38).
TSSSM_INLINE float fast_exp(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::nearbyint(x * 1.44269504088896341f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// log1p(e) for e in [0, 1] through log(1 + e) = 2 atanh(e / (2 + e)); vectorisable.
TSSSM_INLINE float log1p_unit(float e) {
  const float s = e / (2.0f + e);
  const float s2 = s * s;
  float p = 1.0f / 13.0f;
  p = p * s2 + 1.0f / 11.0f;
  p = p * s2 + 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  return 2.0f * s * p;
}

TSSSM_INLINE float sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// Step sizes of one row: dt = softplus(delta + bias) or delta + bias. Also returns the
// derivative d dt / d delta in `slope` when asked (sigmoid for softplus, else 1).
TSSSM_INLINE void row_step_sizes(const ScanArgs& a, int64_t row, float* dt, float* slope) {
  const int64_t L = a.length;
  const float* delta = a.delta + row * L;
  const float bias = a.delta_bias ? a.delta_bias[row % a.dim] : 0.0f;
  if (!a.softplus) {
    for (int64_t t = 0; t < L; ++t) dt[t] = delta[t] + bias;
    if (slope) std::fill(slope, slope + L, 1.0f);
    return;
  }
  for (int64_t t = 0; t < L; ++t) {
    const float x = delta[t] + bias;
    // softplus(x) = max(x, 0) + log1p(exp(-|x|)), stable for every x.
    dt[t] = std::max(x, 0.0f) + log1p_unit(fast_exp(-std::fabs(x)));
  }
  if (slope)
    for (int64_t t = 0; t < L; ++t) slope[t] = sigmoid(delta[t] + bias);
}

// The recurrence over processing steps [s_begin, s_end) of one row, starting from state h
// (updated in place). NS > 0 fixes the state size at compile time so the state lives in
// registers; NS == 0 handles any size. Writes y_t = <C_t, h_t> (no skip, no gate); with kKeep,
// also every h_t and decay, indexed from s_begin.
template <int NS, bool kKeep>
TSSSM_INLINE void row_recurrence(const ScanArgs& a, int64_t row, int64_t s_begin, int64_t s_end,
                                 const float* dt, float* h_io, float* y, float* states,
                                 float* decays) {
  const int64_t N = NS > 0 ? NS : a.state, L = a.length;
  const int64_t b = row / a.dim, d = row % a.dim;
  const int64_t g = d / (a.dim / a.groups);
  const float* u = a.u + row * L;
  const float* A = a.A + d * N;
  const float* Bm = a.B + (b * a.groups + g) * L * N;
  const float* Cm = a.C + (b * a.groups + g) * L * N;
  // A local copy that the compiler can keep in registers when N is a compile-time constant.
  float hbuf[NS > 0 ? NS : 1];
  float* h = NS > 0 ? hbuf : h_io;
  if (NS > 0) std::memcpy(h, h_io, N * sizeof(float));
  for (int64_t s = s_begin; s < s_end; ++s) {
    const int64_t t = a.reverse ? L - 1 - s : s;
    const float dtt = dt[t], drive = dtt * u[t];
    const float* Bt = Bm + t * N;
    const float* Ct = Cm + t * N;
    float acc = 0.0f;
    for (int64_t n = 0; n < N; ++n) {
      const float decay = fast_exp(dtt * A[n]);
      h[n] = decay * h[n] + drive * Bt[n];
      acc += Ct[n] * h[n];
      if (kKeep) {
        decays[(s - s_begin) * N + n] = decay;
        states[(s - s_begin) * N + n] = h[n];
      }
    }
    y[t] = acc;
  }
  if (NS > 0) std::memcpy(h_io, h, N * sizeof(float));
}

TSSSM_INLINE void load_initial_state(const ScanArgs& a, int64_t row, float* h) {
  for (int64_t n = 0; n < a.state; ++n) h[n] = a.h0 ? a.h0[row * a.state + n] : 0.0f;
}

// The backward keeps the states of one segment of steps at a time (recomputed from the state
// saved at the segment's start), so its scratch stays cache-sized however long the row is.
constexpr int64_t kSegmentFloats = 1 << 16;  // per scratch array: 256 KiB

template <int NS>
TSSSM_MULTIVERSION void forward_rows(const ScanArgs& a, int64_t row_begin, int64_t row_end, float* out,
                  float* last) {
  const int64_t L = a.length, N = a.state;
  std::vector<float> dt(L);
  for (int64_t row = row_begin; row < row_end; ++row) {
    float* y = out + row * L;
    row_step_sizes(a, row, dt.data(), nullptr);
    float* h = last + row * N;
    load_initial_state(a, row, h);
    row_recurrence<NS, false>(a, row, 0, L, dt.data(), h, y, nullptr, nullptr);
    const int64_t d = row % a.dim;
    const float* u = a.u + row * L;
    if (a.D)
      for (int64_t t = 0; t < L; ++t) y[t] += a.D[d] * u[t];
    if (a.z) {
      const float* z = a.z + row * L;
      for (int64_t t = 0; t < L; ++t) y[t] *= z[t] * sigmoid(z[t]);
    }
  }
}

struct GradArgs {
  const float* dout;   // [batch, dim, length]
  const float* dlast;  // [batch, dim, state] or null
  float* du;           // [batch, dim, length]
  float* ddelta;       // [batch, dim, length]
  float* dz;           // [batch, dim, length] or null
  float* dh0;          // [batch, dim, state] or null
  // Per-thread partial sums, each slice laid out as the parameter it belongs to.
  float* dA;           // [threads, dim, state]
  float* dD;           // [threads, dim] or null
  float* dbias;        // [threads, dim] or null
  float* dB;           // [threads, batch, groups, length, state]
  float* dC;           // [threads, batch, groups, length, state]
};

template <int NS>
TSSSM_MULTIVERSION void backward_rows(const ScanArgs& a, const GradArgs& gr, int thread,
                                      int64_t row_begin, int64_t row_end) {
  const int64_t N = NS > 0 ? NS : a.state, L = a.length, Dm = a.dim;
  const int64_t bc_slice = a.batch * a.groups * L * N;
  float* dA_acc = gr.dA + thread * Dm * N;
  float* dB_acc = gr.dB + thread * bc_slice;
  float* dC_acc = gr.dC + thread * bc_slice;
  const int64_t seg_default = std::max<int64_t>(1, kSegmentFloats / N);
  const int64_t seg = std::min<int64_t>(L, a.segment > 0 ? a.segment : seg_default);
  const int64_t n_seg = (L + seg - 1) / seg;
  std::vector<float> dt(L), slope(L), y(L), dy(L), ddt(L), h(N), g(N), dA_row(N);
  std::vector<float> seg_start(n_seg * N), states(seg * N), decays(seg * N);
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t b = row / Dm, d = row % Dm, grp = d / (Dm / a.groups);
    const float* u = a.u + row * L;
    const float* dout = gr.dout + row * L;
    const float* A = a.A + d * N;
    const float* Bm = a.B + (b * a.groups + grp) * L * N;
    const float* Cm = a.C + (b * a.groups + grp) * L * N;
    float* dBm = dB_acc + (b * a.groups + grp) * L * N;
    float* dCm = dC_acc + (b * a.groups + grp) * L * N;
    float* du = gr.du + row * L;

    // Replay the forward pass, saving the state entering each segment (with one segment, the
    // replay keeps its states right away and the walk below needs no recomputation).
    row_step_sizes(a, row, dt.data(), slope.data());
    load_initial_state(a, row, h.data());
    for (int64_t k = 0; k < n_seg; ++k) {
      std::memcpy(seg_start.data() + k * N, h.data(), N * sizeof(float));
      const int64_t s0 = k * seg, s1 = std::min(L, s0 + seg);
      if (n_seg == 1)
        row_recurrence<NS, true>(a, row, s0, s1, dt.data(), h.data(), y.data(), states.data(),
                                 decays.data());
      else
        row_recurrence<NS, false>(a, row, s0, s1, dt.data(), h.data(), y.data(), nullptr,
                                  nullptr);
    }

    // Through the gate and the skip: dy is the gradient of <C_t, h_t>.
    const float Dd = a.D ? a.D[d] : 0.0f;
    float dD_row = 0.0f;
    for (int64_t t = 0; t < L; ++t) {
      float grad = dout[t];
      if (a.z) {
        const float zt = a.z[row * L + t], sz = sigmoid(zt);
        const float pre_gate = y[t] + Dd * u[t];
        gr.dz[row * L + t] = grad * pre_gate * sz * (1.0f + zt * (1.0f - sz));
        grad *= zt * sz;
      }
      dy[t] = grad;
      du[t] = grad * Dd;
      dD_row += grad * u[t];
    }

    // Walk the scan backwards, segment by segment; g is the gradient of the state after the
    // current step.
    for (int64_t n = 0; n < N; ++n) {
      g[n] = gr.dlast ? gr.dlast[row * N + n] : 0.0f;
      dA_row[n] = 0.0f;
    }
    for (int64_t k = n_seg - 1; k >= 0; --k) {
      const int64_t s0 = k * seg, s1 = std::min(L, s0 + seg);
      const float* h_start = seg_start.data() + k * N;
      if (n_seg > 1) {
        std::memcpy(h.data(), h_start, N * sizeof(float));
        row_recurrence<NS, true>(a, row, s0, s1, dt.data(), h.data(), y.data(), states.data(),
                                 decays.data());
      }
      for (int64_t s = s1 - 1; s >= s0; --s) {
        const int64_t t = a.reverse ? L - 1 - s : s;
        const float dyt = dy[t], dtt = dt[t], ut = u[t];
        const float* h_now = states.data() + (s - s0) * N;
        const float* decay = decays.data() + (s - s0) * N;
        const float* h_prev = s > s0 ? h_now - N : h_start;
        const float* Bt = Bm + t * N;
        const float* Ct = Cm + t * N;
        float* dBt = dBm + t * N;
        float* dCt = dCm + t * N;
        float ddt_acc = 0.0f, dBu = 0.0f;
        for (int64_t n = 0; n < N; ++n) {
          const float gn = g[n] + dyt * Ct[n];
          dCt[n] += dyt * h_now[n];
          const float ddecay = gn * h_prev[n] * decay[n];  // gradient of (dt * A)
          ddt_acc += ddecay * A[n];
          dA_row[n] += ddecay * dtt;
          dBt[n] += gn * dtt * ut;
          dBu += gn * Bt[n];
          g[n] = gn * decay[n];
        }
        du[t] += dBu * dtt;
        ddt[t] = ddt_acc + dBu * ut;
      }
    }

    float dbias_row = 0.0f;
    float* ddelta = gr.ddelta + row * L;
    for (int64_t t = 0; t < L; ++t) {
      ddelta[t] = ddt[t] * slope[t];
      dbias_row += ddelta[t];
    }
    for (int64_t n = 0; n < N; ++n) dA_acc[d * N + n] += dA_row[n];
    if (gr.dh0)
      for (int64_t n = 0; n < N; ++n) gr.dh0[row * N + n] = g[n];
    if (gr.dD) gr.dD[thread * Dm + d] += dD_row;
    if (gr.dbias) gr.dbias[thread * Dm + d] += dbias_row;
  }
}

// Runs fn(thread, row_begin, row_end) over contiguous row ranges, one range per thread.
template <typename Fn>
void parallel_rows(int64_t rows, int threads, Fn fn) {
  threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, rows)));
  const int64_t per = (rows + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) {
    const int64_t begin = i * per, end = std::min(rows, begin + per);
    if (begin < end) pool.emplace_back(fn, i, begin, end);
  }
  fn(0, 0, std::min(rows, per));
  for (auto& th : pool) th.join();
}

// State sizes compiled with the state in registers; any other size takes the generic loop.
template <template <int> class Kernel, typename... Args>
void dispatch_state(int64_t state, Args&&... args) {
  switch (state) {
    case 2: Kernel<2>::run(args...); break;
    case 4: Kernel<4>::run(args...); break;
    case 8: Kernel<8>::run(args...); break;
    case 16: Kernel<16>::run(args...); break;
    case 32: Kernel<32>::run(args...); break;
    case 64: Kernel<64>::run(args...); break;
    default: Kernel<0>::run(args...); break;
  }
}

template <int NS>
struct Forward {
  static void run(const ScanArgs& a, float* out, float* last, int threads) {
    parallel_rows(a.batch * a.dim, threads, [&](int, int64_t begin, int64_t end) {
      forward_rows<NS>(a, begin, end, out, last);
    });
  }
};

template <int NS>
struct Backward {
  static void run(const ScanArgs& a, const GradArgs& gr, int threads) {
    parallel_rows(a.batch * a.dim, threads, [&](int thread, int64_t begin, int64_t end) {
      backward_rows<NS>(a, gr, thread, begin, end);
    });
  }
};

}  // namespace

extern "C" {

// Number of threads the backward's partial-sum buffers must provide for `rows` rows.
int tsssm_scan_threads(int64_t rows, int threads) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, rows)));
}

void tsssm_scan_forward(const float* u, const float* delta, const float* A, const float* B,
                        const float* C, const float* D, const float* z, const float* delta_bias,
                        const float* h0, int64_t batch, int64_t dim, int64_t length,
                        int64_t state, int64_t groups, int softplus, int reverse, int threads,
                        float* out, float* last) {
  const ScanArgs a{u, delta, A, B, C, D, z, delta_bias, h0,
                   batch, dim, length, state, groups, softplus, reverse, 0};
  dispatch_state<Forward>(state, a, out, last, threads);
}

void tsssm_scan_backward(const float* u, const float* delta, const float* A, const float* B,
                         const float* C, const float* D, const float* z,
                         const float* delta_bias, const float* h0, int64_t batch, int64_t dim,
                         int64_t length, int64_t state, int64_t groups, int softplus,
                         int reverse, int threads, int64_t segment, const float* dout,
                         const float* dlast,
                         float* du, float* ddelta, float* dz, float* dh0, float* dA, float* dD,
                         float* dbias, float* dB, float* dC) {
  const ScanArgs a{u, delta, A, B, C, D, z, delta_bias, h0,
                   batch, dim, length, state, groups, softplus, reverse, segment};
  const GradArgs gr{dout, dlast, du, ddelta, dz, dh0, dA, dD, dbias, dB, dC};
  dispatch_state<Backward>(state, a, gr, threads);
}

}  // extern "C"

// An empty Python module, so that the library installs as an ordinary extension module.
static struct PyModuleDef cpu_scan_module = {PyModuleDef_HEAD_INIT, "_cpu_scan",
                                             "Fused CPU selective scan (called via ctypes).",
                                             -1, nullptr};

PyMODINIT_FUNC PyInit__cpu_scan(void) { return PyModule_Create(&cpu_scan_module); }
