// Fused selective scan for the CPU: forward and a backward that replays the scan in reverse.
//
// Plain C++ with no torch headers, so building it needs only a C++ compiler (GCC 12+ or
// Clang: it uses their vector extensions). Python calls the exported functions through ctypes
// with raw float32 pointers (see ../cpu.py); the Python-module init at the end exists only so
// that setuptools can build and install it as an extension module.
//
// Layouts (all contiguous float32):
//   u, delta, z, out, dout, du, ddelta, dz : [batch, dim, length], or [batch, length, dim]
//                                            with channel_last
//   A, dA                                 : [dim, state]
//   B, C, dB, dC                          : [batch, groups, state, length], or [batch, length,
//                                            groups, state] with channel_last
//   h0, last, dh0, dlast                  : [batch, dim, state]
//   D, delta_bias                         : [dim]
// Optional inputs are null pointers.
//
// Vectorisation. One vector holds W channels of one (batch, group) at one time step; such a
// block of W channels is a "tile". Every state update is then vertical SIMD work, the N
// states of a tile are N independent recurrences in flight at once (which hides the latency
// of the FMA chain and of exp), and B_t[n], C_t[n] are scalars broadcast to the whole tile,
// read in place from their [.., state, length] layout. Length-major rows are transposed in
// W x W blocks into step-major scratch (and outputs back); channel-last inputs, the layout
// of a Mamba mixer's projections, are step-major already and are read and written in place,
// B and C too, so a short sequence (S-Mamba's few variate tokens) pays for no transposes.
// W is 16 with AVX-512, 8 with AVX2 + FMA and 4 otherwise, chosen at run time (one build runs
// on every x86-64 CPU; other CPUs get the portable W = 4 build).
//
// Determinism. A lane performs exactly the operations of its channel alone, so outputs do not
// depend on W, on the tiling or on the thread count. Sums over channels (dB, dC) and over
// rows (dA, dD, ddelta_bias) go to per-thread buffers that Python adds up in a fixed order:
// bit-identical from run to run for a given shape, thread count and ISA.

#include <Python.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "../../csrc/vector_kernels.h"

namespace {

// Step-major copy of a chunk of B or C ([state, length] rows of one batch item and group):
// dst[i * NP + n] = bc[n * L + t0 + i], with NP = N rounded up to W and zero padding. The
// recurrence then reads each step's N values from one or two cache lines: read in place, the
// N rows of a power-of-two length fall into the same few L1 sets and evict each other.
template <int W>
TSSSM_INLINE void load_steps(const float* bc, int64_t N, int64_t L, int64_t t0, int64_t nt,
                             vf<W>* dst) {
  const int64_t blocks = (N + W - 1) / W;
  for (int64_t q = 0; q < blocks; ++q)
    load_tile<W>(bc + q * W * L, L, static_cast<int>(std::min<int64_t>(W, N - q * W)), t0, nt,
                 dst + q, blocks);
}

// The inverse of load_steps, adding: bc[n * L + t0 + i] += src[i * NP + n] for n < N.
template <int W>
TSSSM_INLINE void add_steps(const vf<W>* src, int64_t N, int64_t L, int64_t t0, int64_t nt,
                            float* bc) {
  const int64_t blocks = (N + W - 1) / W;
  for (int64_t q = 0; q < blocks; ++q) {
    const int w = static_cast<int>(std::min<int64_t>(W, N - q * W));
    float* rows = bc + q * W * L + t0;
    for (int64_t i0 = 0; i0 < nt; i0 += W) {
      const int64_t m = std::min<int64_t>(W, nt - i0);
      vf<W> block[W];
#pragma GCC unroll 16
      for (int j = 0; j < W; ++j) block[j] = j < m ? src[(i0 + j) * blocks + q] : vf<W>{};
      transpose<W>(block);
#pragma GCC unroll 16
      for (int c = 0; c < W; ++c) {
        if (c >= w) continue;
        float* row = rows + c * L + i0;
        store_floats<W>(load_floats<W>(row, m) + block[c], row, m);
      }
    }
  }
}

// ----------------------------------------------------------------------------------------
// The scan.

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
  // [batch, dim, segments, state]: the state entering each backward segment, written by the
  // forward (null when no backward follows) and read by the backward.
  float* checkpoints;
  int channel_last;  // the layouts of the [.., length]-shaped arrays (see the top)
};

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
  float* dB;           // [threads, batch, groups, state, length]
  float* dC;           // [threads, batch, groups, state, length]
};

// W channels [d0, d0 + w) of batch b, all in group g.
struct Tile {
  int64_t b, g, d0;
  int w;
};

template <int W>
int64_t tiles_per_group(const ScanArgs& a) {
  return (a.dim / a.groups + W - 1) / W;
}

template <int W>
Tile tile_at(const ScanArgs& a, int64_t index) {
  const int64_t per_group = tiles_per_group<W>(a), channels = a.dim / a.groups;
  const int64_t j = index % per_group, bg = index / per_group;
  const int64_t g = bg % a.groups, b = bg / a.groups;
  return {b, g, g * channels + j * W, static_cast<int>(std::min<int64_t>(W, channels - j * W))};
}

// Time range [t0, t0 + nt) of processing steps [s0, s1) (which run backwards in time when
// reverse).
inline void time_range(const ScanArgs& a, int64_t s0, int64_t s1, int64_t* t0, int64_t* nt) {
  *t0 = a.reverse ? a.length - s1 : s0;
  *nt = s1 - s0;
}

// Steps [t0, t0 + nt) of a tile's rows of x (an array shaped like u), step-major into dst.
template <int W>
TSSSM_INLINE void load_rows(const ScanArgs& a, const float* x, const Tile& tl, int64_t t0,
                            int64_t nt, vf<W>* dst) {
  if (!a.channel_last)
    return load_tile<W>(x + (tl.b * a.dim + tl.d0) * a.length, a.length, tl.w, t0, nt, dst);
  const float* steps = x + (tl.b * a.length + t0) * a.dim + tl.d0;
  for (int64_t i = 0; i < nt; ++i) dst[i] = load_floats<W>(steps + i * a.dim, tl.w);
}

// The inverse of load_rows: writes src[i] to step t0 + i of the tile's rows of x.
template <int W>
TSSSM_INLINE void store_rows(const ScanArgs& a, const vf<W>* src, const Tile& tl, int64_t t0,
                             int64_t nt, float* x) {
  if (!a.channel_last)
    return store_tile<W>(src, a.length, tl.w, t0, nt, x + (tl.b * a.dim + tl.d0) * a.length);
  float* steps = x + (tl.b * a.length + t0) * a.dim + tl.d0;
  for (int64_t i = 0; i < nt; ++i) store_floats<W>(src[i], steps + i * a.dim, tl.w);
}

// The tile's B (or C) values at steps [t0, t0 + nt), step-major: the N values of step t0 + i
// start at the result + i * *stride. Channel-last arrays are read in place; the others are
// copied into scratch by load_steps.
template <int W>
TSSSM_INLINE const float* step_values(const ScanArgs& a, const float* bc, const Tile& tl,
                                      int64_t t0, int64_t nt, vf<W>* scratch, int64_t* stride) {
  const int64_t N = a.state;
  if (a.channel_last) {
    *stride = a.groups * N;
    return bc + ((tl.b * a.length + t0) * a.groups + tl.g) * N;
  }
  *stride = (N + W - 1) / W * W;
  load_steps<W>(bc + (tl.b * a.groups + tl.g) * N * a.length, N, a.length, t0, nt, scratch);
  return reinterpret_cast<const float*>(scratch);
}

// The backward keeps the states of one segment of steps at a time, replayed from the state
// the forward saved at the segment's start, so its scratch stays cache-sized however long
// the row is.
constexpr int64_t kSegmentFloats = 1 << 16;  // states + decays + the two sums: 256 KiB

// Steps per backward segment: a.segment, or (0) a cache-sized number for this state size and
// vector width.
inline int64_t segment_steps(const ScanArgs& a, int W) {
  const int64_t fit = std::max<int64_t>(1, kSegmentFloats / (4 * a.state * W));
  return std::min<int64_t>(a.length, a.segment > 0 ? a.segment : fit);
}

inline int64_t segment_count(const ScanArgs& a, int W) {
  const int64_t seg = segment_steps(a, W);
  return (a.length + seg - 1) / seg;
}

// Step sizes dt = softplus(delta + bias) (or delta + bias) of a chunk, in place over the raw
// delta in x[0..nt); with `slope`, also d dt / d delta (sigmoid, or 1 without softplus).
template <int W>
TSSSM_INLINE void step_sizes(const ScanArgs& a, vf<W> bias, int64_t nt, vf<W>* x,
                             vf<W>* slope) {
  for (int64_t i = 0; i < nt; ++i) {
    const vf<W> v = x[i] + bias;
    x[i] = a.softplus ? softplusv<W>(v) : v;
    if (slope) slope[i] = a.softplus ? sigmoidv<W>(v) : splat<W>(1.0f);
  }
}

// The recurrence over one chunk [t0, t0 + nt) in processing order, from state h (updated in
// place). NS > 0 fixes the state size at compile time so that the state stays in registers.
// B and C come step-major from step_values (step i's values at i * bc_stride). Writes y_t =
// <C_t, h_t> to y[i]; with kKeep also every state and decay to states/decays[i * N + n]
// (i = t - t0).
template <int W, int NS, bool kKeep>
TSSSM_INLINE void tile_recurrence(const ScanArgs& a, int64_t nt, const vf<W>* dt,
                                  const vf<W>* u, const float* Bc, const float* Cc,
                                  int64_t bc_stride, const vf<W>* A2, vf<W>* h_io, vf<W>* y,
                                  vf<W>* states, vf<W>* decays) {
  const int64_t N = NS > 0 ? NS : a.state;
  vf<W> hbuf[NS > 0 ? NS : 1];
  vf<W>* h = NS > 0 ? hbuf : h_io;
  if (NS > 0)
    for (int64_t n = 0; n < N; ++n) h[n] = h_io[n];
  for (int64_t k = 0; k < nt; ++k) {
    const int64_t i = a.reverse ? nt - 1 - k : k;
    const vf<W> dti = dt[i], drive = dti * u[i];
    const float* Bt = Bc + i * bc_stride;
    const float* Ct = Cc + i * bc_stride;
    // Two partial sums halve the read-out's dependency chain; their order is fixed.
    vf<W> acc0{}, acc1{};
    // Fully unrolled for a fixed state size, so that h stays in registers.
#pragma GCC unroll 16
    for (int64_t n = 0; n < N; ++n) {
      const vf<W> decay = exp2v<W>(dti * A2[n]);
      h[n] = decay * h[n] + drive * Bt[n];
      if (n % 2 == 0)
        acc0 += Ct[n] * h[n];
      else
        acc1 += Ct[n] * h[n];
      if (kKeep) {
        states[i * N + n] = h[n];
        decays[i * N + n] = decay;
      }
    }
    y[i] = acc0 + acc1;
  }
  if (NS > 0)
    for (int64_t n = 0; n < N; ++n) h_io[n] = h[n];
}

// Per-tile constants: A * log2(e) (for exp2) and A itself, one vector per state.
template <int W>
TSSSM_INLINE void load_decay_rates(const ScanArgs& a, const Tile& tl, vf<W>* A2, vf<W>* A) {
  load_tile<W>(a.A + tl.d0 * a.state, a.state, tl.w, 0, a.state, A2);
  for (int64_t n = 0; n < a.state; ++n) {
    if (A) A[n] = A2[n];
    A2[n] *= kLog2e;
  }
}

template <int W>
TSSSM_INLINE void load_initial_state(const ScanArgs& a, const Tile& tl, vf<W>* h) {
  const int64_t N = a.state;
  if (a.h0)
    load_tile<W>(a.h0 + (tl.b * a.dim + tl.d0) * N, N, tl.w, 0, N, h);
  else
    for (int64_t n = 0; n < N; ++n) h[n] = vf<W>{};
}

template <int W>
TSSSM_INLINE vf<W> channel_vector(const float* x, const Tile& tl, float absent) {
  return x ? load_floats<W>(x + tl.d0, tl.w) : splat<W>(absent);
}

constexpr int64_t kForwardChunk = 64;  // steps per forward chunk: scratch stays in L1/L2

template <int W, int NS>
TSSSM_INLINE void forward_tiles(const ScanArgs& a, int64_t tile_begin, int64_t tile_end,
                                float* out, float* last) {
  const int64_t N = a.state, L = a.length, T = std::min(kForwardChunk, L);
  const int64_t seg = segment_steps(a, W), n_seg = segment_count(a, W);
  const int64_t blocks = (N + W - 1) / W;  // vectors per step of B and C
  ScratchLayout<W> layout;
  const size_t o_dt = layout.take(T), o_u = layout.take(T), o_y = layout.take(T);
  const size_t o_B = layout.take(T * blocks), o_C = layout.take(T * blocks);
  const size_t o_A2 = layout.take(N), o_h = layout.take(N);
  vf<W>* base = reinterpret_cast<vf<W>*>(thread_scratch(layout.floats));
  vf<W>*dt = base + o_dt / W, *u = base + o_u / W, *y = base + o_y / W;
  vf<W>*Bc = base + o_B / W, *Cc = base + o_C / W;
  vf<W>*A2 = base + o_A2 / W, *h = base + o_h / W;
  for (int64_t index = tile_begin; index < tile_end; ++index) {
    const Tile tl = tile_at<W>(a, index);
    const vf<W> bias = channel_vector<W>(a.delta_bias, tl, 0.0f);
    const vf<W> Dv = channel_vector<W>(a.D, tl, 0.0f);
    load_decay_rates<W>(a, tl, A2, nullptr);
    load_initial_state<W>(a, tl, h);
    // Chunks of T steps that end where backward segments do.
    for (int64_t s0 = 0, s1; s0 < L; s0 = s1) {
      s1 = std::min({L, s0 + T, (s0 / seg + 1) * seg});
      if (a.checkpoints && s0 % seg == 0)
        store_tile<W>(h, n_seg * N, tl.w, s0 / seg * N, N,
                      a.checkpoints + (tl.b * a.dim + tl.d0) * n_seg * N);
      int64_t t0, nt;
      time_range(a, s0, s1, &t0, &nt);
      load_rows<W>(a, a.delta, tl, t0, nt, dt);
      step_sizes<W>(a, bias, nt, dt, nullptr);
      load_rows<W>(a, a.u, tl, t0, nt, u);
      int64_t stride;
      const float* Bt = step_values<W>(a, a.B, tl, t0, nt, Bc, &stride);
      const float* Ct = step_values<W>(a, a.C, tl, t0, nt, Cc, &stride);
      tile_recurrence<W, NS, false>(a, nt, dt, u, Bt, Ct, stride, A2, h, y, nullptr, nullptr);
      for (int64_t i = 0; i < nt; ++i) y[i] += Dv * u[i];
      if (a.z) {
        load_rows<W>(a, a.z, tl, t0, nt, dt);  // the step sizes are no longer needed
        for (int64_t i = 0; i < nt; ++i) y[i] *= dt[i] * sigmoidv<W>(dt[i]);
      }
      store_rows<W>(a, y, tl, t0, nt, out);
    }
    store_tile<W>(h, N, tl.w, 0, N, last + (tl.b * a.dim + tl.d0) * N);
  }
}

// Sums over the tile's channels into dB or dC (bc: its slice of this thread): for v[i * NP +
// n], i < nt and n < N, the sum of the lanes of v[i * NP + n] is added to the value of state
// n at step t0 + i. v is overwritten (the padding n >= N is zeroed here).
template <int W>
TSSSM_INLINE void add_channel_sums(const ScanArgs& a, vf<W>* v, const Tile& tl, int64_t t0,
                                   int64_t nt, float* bc) {
  const int64_t N = a.state, blocks = (N + W - 1) / W, NP = blocks * W;
  for (int64_t i = 0; i < nt; ++i) {
    for (int64_t q = 0; q < blocks; ++q) {
      vf<W>* block = v + i * NP + q * W;
      const int64_t m = std::min<int64_t>(W, N - q * W);
      const int count = lane_sum_count(m);  // S-Mamba's 2 states sum 2 vectors, not W
      for (int64_t n = m; n < count; ++n) block[n] = vf<W>{};
      v[i * blocks + q] = lane_sums<W>(block, count);
    }
  }
  if (!a.channel_last)
    return add_steps<W>(v, N, a.length, t0, nt, bc + (tl.b * a.groups + tl.g) * N * a.length);
  float* steps = bc + ((tl.b * a.length + t0) * a.groups + tl.g) * N;
  for (int64_t i = 0; i < nt; ++i)
    for (int64_t q = 0; q < blocks; ++q)
      add_lanes<W>(v[i * blocks + q], steps + i * a.groups * N + q * W,
                   static_cast<int>(std::min<int64_t>(W, N - q * W)));
}

template <int W, int NS>
TSSSM_INLINE void backward_tiles(const ScanArgs& a, const GradArgs& gr, int thread,
                                 int64_t tile_begin, int64_t tile_end) {
  const int64_t N = NS > 0 ? NS : a.state, L = a.length, Dm = a.dim;
  const int64_t bc_slice = a.batch * a.groups * N * L;
  const int64_t seg = segment_steps(a, W), n_seg = segment_count(a, W);
  const int64_t blocks = (N + W - 1) / W, NP = blocks * W;
  const int64_t sums = seg * NP;  // per-step vectors to sum over channels, padded
  ScratchLayout<W> layout;
  const size_t o_B = layout.take(seg * blocks), o_C = layout.take(seg * blocks);
  const size_t o_dt = layout.take(seg), o_slope = layout.take(seg), o_u = layout.take(seg);
  const size_t o_dy = layout.take(seg), o_du = layout.take(seg), o_y = layout.take(seg);
  const size_t o_z = layout.take(seg), o_states = layout.take(seg * N);
  const size_t o_decays = layout.take(seg * N), o_sB = layout.take(sums);
  const size_t o_sC = layout.take(sums), o_start = layout.take(N);
  const size_t o_A2 = layout.take(N), o_A = layout.take(N), o_h = layout.take(N);
  const size_t o_g = layout.take(N), o_dA = layout.take(N);
  vf<W>* base = reinterpret_cast<vf<W>*>(thread_scratch(layout.floats));
  vf<W>*dt = base + o_dt / W, *slope = base + o_slope / W, *u = base + o_u / W;
  vf<W>*dy = base + o_dy / W, *du = base + o_du / W, *y = base + o_y / W, *z = base + o_z / W;
  vf<W>*states = base + o_states / W, *decays = base + o_decays / W;
  vf<W>*sumB = base + o_sB / W, *sumC = base + o_sC / W, *start = base + o_start / W;
  vf<W>*A2 = base + o_A2 / W, *A = base + o_A / W, *h = base + o_h / W, *g = base + o_g / W;
  vf<W>* dA = base + o_dA / W;
  vf<W>*Bc = base + o_B / W, *Cc = base + o_C / W;

  for (int64_t index = tile_begin; index < tile_end; ++index) {
    const Tile tl = tile_at<W>(a, index);
    const vf<W> bias = channel_vector<W>(a.delta_bias, tl, 0.0f);
    const vf<W> Dv = channel_vector<W>(a.D, tl, 0.0f);
    load_decay_rates<W>(a, tl, A2, A);

    // g is the gradient of the state after the current step.
    for (int64_t n = 0; n < N; ++n) g[n] = dA[n] = vf<W>{};
    if (gr.dlast) load_tile<W>(gr.dlast + (tl.b * Dm + tl.d0) * N, N, tl.w, 0, N, g);
    vf<W> dD_acc{}, dbias_acc{};
    for (int64_t k = n_seg - 1; k >= 0; --k) {
      int64_t t0, nt;
      time_range(a, k * seg, std::min(L, (k + 1) * seg), &t0, &nt);
      load_rows<W>(a, a.delta, tl, t0, nt, dt);
      step_sizes<W>(a, bias, nt, dt, slope);
      load_rows<W>(a, a.u, tl, t0, nt, u);
      int64_t stride;
      const float* Bt = step_values<W>(a, a.B, tl, t0, nt, Bc, &stride);
      const float* Ct = step_values<W>(a, a.C, tl, t0, nt, Cc, &stride);
      load_tile<W>(a.checkpoints + (tl.b * Dm + tl.d0) * n_seg * N, n_seg * N, tl.w, k * N, N,
                   start);
      for (int64_t n = 0; n < N; ++n) h[n] = start[n];
      tile_recurrence<W, NS, true>(a, nt, dt, u, Bt, Ct, stride, A2, h, y, states, decays);

      // Through the gate and the skip: dy is the gradient of <C_t, h_t>.
      load_rows<W>(a, gr.dout, tl, t0, nt, dy);
      if (a.z) {
        load_rows<W>(a, a.z, tl, t0, nt, z);
        for (int64_t i = 0; i < nt; ++i) {
          const vf<W> sz = sigmoidv<W>(z[i]), pre_gate = y[i] + Dv * u[i];
          const vf<W> grad = dy[i];
          y[i] = grad * pre_gate * sz * (1.0f + z[i] * (1.0f - sz));  // y now holds dz
          dy[i] = grad * z[i] * sz;
        }
        store_rows<W>(a, y, tl, t0, nt, gr.dz);
      }
      for (int64_t i = 0; i < nt; ++i) {
        du[i] = dy[i] * Dv;
        dD_acc += dy[i] * u[i];
      }

      // Walk the segment backwards in processing order, with g (and dA) in registers for a
      // fixed state size.
      vf<W> gbuf[NS > 0 ? NS : 1], dAbuf[NS > 0 ? NS : 1];
      vf<W>* gw = NS > 0 ? gbuf : g;
      vf<W>* dAw = NS > 0 ? dAbuf : dA;
      if (NS > 0)
        for (int64_t n = 0; n < N; ++n) gw[n] = g[n], dAw[n] = dA[n];
      for (int64_t k2 = nt - 1; k2 >= 0; --k2) {
        const int64_t i = a.reverse ? nt - 1 - k2 : k2;
        const int64_t i_prev = a.reverse ? i + 1 : i - 1;
        const vf<W>* h_now = states + i * N;
        const vf<W>* h_prev = k2 > 0 ? states + i_prev * N : start;
        const vf<W>* decay = decays + i * N;
        const vf<W> dyt = dy[i], dtt = dt[i], drive = dt[i] * u[i];
        vf<W> ddt{}, dBu{};
#pragma GCC unroll 16
        for (int64_t n = 0; n < N; ++n) {
          const vf<W> gn = gw[n] + dyt * Ct[i * stride + n];
          sumC[i * NP + n] = dyt * h_now[n];
          const vf<W> ddecay = gn * h_prev[n] * decay[n];  // gradient of (dt * A)
          ddt += ddecay * A[n];
          dAw[n] += ddecay * dtt;
          sumB[i * NP + n] = gn * drive;
          dBu += gn * Bt[i * stride + n];
          gw[n] = gn * decay[n];
        }
        du[i] += dBu * dtt;
        dt[i] = (ddt + dBu * u[i]) * slope[i];  // dt now holds ddelta
        dbias_acc += dt[i];
      }
      if (NS > 0)
        for (int64_t n = 0; n < N; ++n) g[n] = gw[n], dA[n] = dAw[n];
      add_channel_sums<W>(a, sumB, tl, t0, nt, gr.dB + thread * bc_slice);
      add_channel_sums<W>(a, sumC, tl, t0, nt, gr.dC + thread * bc_slice);
      store_rows<W>(a, du, tl, t0, nt, gr.du);
      store_rows<W>(a, dt, tl, t0, nt, gr.ddelta);
    }

    store_tile<W, true>(dA, N, tl.w, 0, N, gr.dA + (thread * Dm + tl.d0) * N);
    if (gr.dh0) store_tile<W>(g, N, tl.w, 0, N, gr.dh0 + (tl.b * Dm + tl.d0) * N);
    if (gr.dD) add_lanes<W>(dD_acc, gr.dD + thread * Dm + tl.d0, tl.w);
    if (gr.dbias) add_lanes<W>(dbias_acc, gr.dbias + thread * Dm + tl.d0, tl.w);
  }
}

// ----------------------------------------------------------------------------------------
// One instantiation per instruction set; the helpers above are inlined into each (flatten)
// and compiled for its target. The state sizes for_state_size names keep the state in
// registers.

#define TSSSM_ISA_KERNELS(NAME, TARGET, W)                                                   \
  template <int NS>                                                                          \
  TARGET void NAME##_forward(const ScanArgs& a, int64_t begin, int64_t end, float* out,      \
                             float* last) {                                                  \
    forward_tiles<W, NS>(a, begin, end, out, last);                                          \
  }                                                                                          \
  template <int NS>                                                                          \
  TARGET void NAME##_backward(const ScanArgs& a, const GradArgs& gr, int thread,             \
                              int64_t begin, int64_t end) {                                  \
    backward_tiles<W, NS>(a, gr, thread, begin, end);                                        \
  }

#if defined(__x86_64__)
TSSSM_ISA_KERNELS(avx512, __attribute__((target("avx512f,avx2,fma"), flatten)), 16)
TSSSM_ISA_KERNELS(avx2, __attribute__((target("avx2,fma"), flatten)), 8)
#endif
TSSSM_ISA_KERNELS(generic, __attribute__((flatten)), 4)

// Tiles handled by each thread are at least this many state updates, so that small calls
// do not pay more in wake-ups than they gain.
constexpr int64_t kMinUpdatesPerThread = 1 << 17;

int64_t tile_count(const ScanArgs& a, int isa) {
  const int64_t W = isa_width(isa);
  return a.batch * a.groups * ((a.dim / a.groups + W - 1) / W);
}

int thread_count(const ScanArgs& a, int isa, int threads) {
  const int64_t tiles = tile_count(a, isa);
  const int64_t by_work = a.batch * a.dim * a.length * a.state / kMinUpdatesPerThread;
  return static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>({static_cast<int64_t>(threads), tiles, by_work})));
}

// The last guard against sizes the kernel cannot scan: every size >= 1 and dim a multiple of
// groups (the kernel divides by state, groups and segment lengths). The Python wrapper checks
// first, with messages; this keeps a direct call from dividing by zero.
bool sizes_valid(int64_t batch, int64_t dim, int64_t length, int64_t state, int64_t groups) {
  return batch >= 1 && dim >= 1 && length >= 1 && state >= 1 && groups >= 1 && dim % groups == 0;
}

}  // namespace

extern "C" {

// Version of this C interface; the Python loader refuses a library built from other sources.
int tsssm_scan_abi_version() { return 3; }

// Name of instruction set `isa` (0 generic, 1 AVX2, 2 AVX-512); -1: the one used by default.
const char* tsssm_scan_isa_name(int isa) { return kIsaNames[resolve_isa(isa)]; }

// Whether this CPU can run instruction set `isa`.
int tsssm_scan_isa_supported(int isa) { return isa >= 0 && isa <= kAvx512 && isa_supported(isa); }

// Segments of the backward: the forward's `checkpoints` are [batch, dim, segments, state];
// 0 for an empty length or state.
int64_t tsssm_scan_segments(int64_t length, int64_t state, int isa, int64_t segment) {
  if (length < 1 || state < 1) return 0;
  ScanArgs a{};
  a.length = length, a.state = state, a.segment = segment;
  return segment_count(a, isa_width(resolve_isa(isa)));
}

// Number of threads (and of the backward's partial-sum slices) a call with these sizes uses;
// 0 for sizes the kernel refuses (see sizes_valid).
int tsssm_scan_threads(int64_t batch, int64_t dim, int64_t length, int64_t state,
                       int64_t groups, int isa, int threads) {
  if (!sizes_valid(batch, dim, length, state, groups)) return 0;
  ScanArgs a{};
  a.batch = batch, a.dim = dim, a.length = length, a.state = state, a.groups = groups;
  return thread_count(a, resolve_isa(isa), threads);
}

// Returns 0, or -1 without touching any output for sizes the kernel refuses (sizes_valid).
int tsssm_scan_forward(const float* u, const float* delta, const float* A, const float* B,
                        const float* C, const float* D, const float* z, const float* delta_bias,
                        const float* h0, int64_t batch, int64_t dim, int64_t length,
                        int64_t state, int64_t groups, int softplus, int reverse,
                        int channel_last, int isa, int threads, int64_t segment, float* out,
                        float* last, float* checkpoints) {
  if (!sizes_valid(batch, dim, length, state, groups)) return -1;
  const ScanArgs a{u,     delta,  A,     B,      C,        D,       z,       delta_bias, h0,
                   batch, dim,    length, state, groups,   softplus, reverse, segment,
                   checkpoints, channel_last};
  isa = resolve_isa(isa);
  threads = thread_count(a, isa, threads);
  for_state_size(state, [&](auto ns) {
    constexpr int NS = decltype(ns)::value;
    parallel_tiles(tile_count(a, isa), threads, [&](int, int64_t begin, int64_t end) {
#if defined(__x86_64__)
      if (isa == kAvx512) return avx512_forward<NS>(a, begin, end, out, last);
      if (isa == kAvx2) return avx2_forward<NS>(a, begin, end, out, last);
#endif
      generic_forward<NS>(a, begin, end, out, last);
    });
  });
  return 0;
}

// Returns 0, or -1 without touching any gradient for sizes the kernel refuses (sizes_valid).
int tsssm_scan_backward(const float* u, const float* delta, const float* A, const float* B,
                         const float* C, const float* D, const float* z,
                         const float* delta_bias, const float* h0, int64_t batch, int64_t dim,
                         int64_t length, int64_t state, int64_t groups, int softplus,
                         int reverse, int channel_last, int isa, int threads, int64_t segment,
                         float* checkpoints, const float* dout, const float* dlast, float* du,
                         float* ddelta, float* dz, float* dh0, float* dA, float* dD,
                         float* dbias, float* dB, float* dC) {
  if (!sizes_valid(batch, dim, length, state, groups)) return -1;
  const ScanArgs a{u,     delta,  A,     B,      C,        D,       z,       delta_bias, h0,
                   batch, dim,    length, state, groups,   softplus, reverse, segment,
                   checkpoints, channel_last};
  const GradArgs gr{dout, dlast, du, ddelta, dz, dh0, dA, dD, dbias, dB, dC};
  isa = resolve_isa(isa);
  threads = thread_count(a, isa, threads);
  for_state_size(state, [&](auto ns) {
    constexpr int NS = decltype(ns)::value;
    parallel_tiles(tile_count(a, isa), threads, [&](int thread, int64_t begin, int64_t end) {
#if defined(__x86_64__)
      if (isa == kAvx512) return avx512_backward<NS>(a, gr, thread, begin, end);
      if (isa == kAvx2) return avx2_backward<NS>(a, gr, thread, begin, end);
#endif
      generic_backward<NS>(a, gr, thread, begin, end);
    });
  });
  return 0;
}

}  // extern "C"

// An empty Python module, so that the library installs as an ordinary extension module.
static struct PyModuleDef cpu_scan_module = {PyModuleDef_HEAD_INIT, "_cpu_scan",
                                             "Fused CPU selective scan (called via ctypes).",
                                             -1, nullptr};

PyMODINIT_FUNC PyInit__cpu_scan(void) { return PyModule_Create(&cpu_scan_module); }
