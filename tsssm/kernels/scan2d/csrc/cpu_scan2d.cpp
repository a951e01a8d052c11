// Fused 2-D selective scan for the CPU (Chimera): forward, and a backward that replays the
// grid from checkpoints and walks it in reverse. The recurrence is the one stated in
// ../reference.py (both couplings, period, initial states).
//
// Plain C++ with no torch headers: ../cpu.py fills the two argument structs below through
// ctypes with float32 pointers (null for an absent optional input). Layouts, all contiguous;
// the grids are channel-last, the layout the model's projections produce, so that a tile's
// channels at one cell are one vector load and the wrapper copies nothing:
//   u, delta_time, delta_var, z, out (and their gradients) : [batch, n_vars, length, dim]
//   A_time, A_var, A_var_to_time, A_time_to_var (and grads): [dim, state]
//   B_time, C_time, B_var, C_var (and grads)               : [batch, n_vars, length, state]
//   D, bias_time, bias_var                                 : [dim]
//   time_state (in and out)                                : [batch, dim, n_vars, period, state]
//   var_state (in and out)                                 : [batch, dim, n_vars, state]
//
// Vectorisation (as in ../../selective_scan/csrc/cpu_scan.cpp, whose building blocks
// ../../csrc/vector_kernels.h holds). One vector holds W channels of one batch item at one
// cell of the grid: a "tile" of W channels sweeps its grid once, time outer and variates
// inner, with the column of variate states and the `period` columns of time states as
// vectors in cache. Every state update is vertical SIMD work; B and C, shared by the
// channels, are scalars broadcast to the tile, read in place. W is 16 with AVX-512, 8 with
// AVX2 + FMA and 4 otherwise, chosen at run time.
//
// Determinism. A lane performs exactly the operations of its channel alone. The sums over
// channels (the gradients of B and C) add each tile's lanes in a fixed order, tiles in
// channel order, and each batch item is handled by one thread; the [dim, ...] gradients go
// to per-thread slices that Python adds up in a fixed order. Results are bit-identical from
// run to run for a given shape, thread count and ISA.

#include <Python.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>

#include "../../csrc/vector_kernels.h"

extern "C" {

struct Scan2DArgs {
  const float *u, *delta_time, *delta_var, *A_time, *A_var, *A_var_to_time, *A_time_to_var;
  const float *B_time, *C_time, *B_var, *C_var, *D, *z, *bias_time, *bias_var;
  const float *time_state0, *var_state0;
  int64_t batch, dim, n_vars, length, state, period, softplus, reverse, threads, segment, isa;
};

struct Scan2DGrads {
  const float *dout, *dtime_state, *dvar_state;            // incoming; the last two may be null
  float *du, *ddelta_time, *ddelta_var, *dz, *dtime_state0, *dvar_state0;
  float *dA_time, *dA_var, *dA_var_to_time, *dA_time_to_var;  // [threads, dim, state]
  float *dD, *dbias_time, *dbias_var;                         // [threads, dim]
  float *dB_time, *dC_time, *dB_var, *dC_var;                 // [batch, length, n_vars, state]
};

}  // extern "C"

namespace {

// W channels [d0, d0 + w) of batch item b.
struct Tile {
  int64_t b, d0;
  int w;
};

template <int W>
int64_t tiles_per_batch(const Scan2DArgs& a) {
  return (a.dim + W - 1) / W;
}

template <int W>
Tile tile_at(const Scan2DArgs& a, int64_t index) {
  const int64_t per_batch = tiles_per_batch<W>(a), j = index % per_batch;
  return {index / per_batch, j * W, static_cast<int>(std::min<int64_t>(W, a.dim - j * W))};
}

// Offset of cell (v, t) of batch item b in a [batch, n_vars, length, width] tensor.
inline int64_t cell_offset(const Scan2DArgs& a, int64_t b, int64_t v, int64_t t,
                           int64_t width) {
  return ((b * a.n_vars + v) * a.length + t) * width;
}

// dst[(t - t0) * V + v] = the tile's channels of `grid` at cell (v, t), for columns [t0, t1)
// (lanes past the tile's width are zero).
template <int W>
TSSSM_INLINE void load_columns(const Scan2DArgs& a, const Tile& tl, const float* grid,
                               int64_t t0, int64_t t1, vf<W>* dst) {
  for (int64_t v = 0; v < a.n_vars; ++v)
    for (int64_t t = t0; t < t1; ++t)
      dst[(t - t0) * a.n_vars + v] =
          load_floats<W>(grid + cell_offset(a, tl.b, v, t, a.dim) + tl.d0, tl.w);
}

// The inverse of load_columns: the tile's channels of `grid` at each cell = src.
template <int W>
TSSSM_INLINE void store_columns(const Scan2DArgs& a, const Tile& tl, const vf<W>* src,
                                int64_t t0, int64_t t1, float* grid) {
  for (int64_t v = 0; v < a.n_vars; ++v)
    for (int64_t t = t0; t < t1; ++t)
      store_floats<W>(src[(t - t0) * a.n_vars + v],
                      grid + cell_offset(a, tl.b, v, t, a.dim) + tl.d0, tl.w);
}

template <int W>
TSSSM_INLINE vf<W> channel_vector(const float* x, const Tile& tl) {
  return x ? load_floats<W>(x + tl.d0, tl.w) : vf<W>{};
}

// The per-tile constants, one vector per state: the decay rates times log2(e) (for exp2)
// and as they are, and the couplings (zero when absent, so the state loops have no branch).
template <int W>
struct Rates {
  vf<W> *A1l, *A2l, *A1, *A2, *A12, *A21;
};

template <int W>
TSSSM_INLINE void load_rates(const Scan2DArgs& a, const Tile& tl, const Rates<W>& r) {
  const int64_t N = a.state;
  const float* sources[] = {a.A_time, a.A_var, a.A_var_to_time, a.A_time_to_var};
  vf<W>* targets[] = {r.A1, r.A2, r.A12, r.A21};
  for (int k = 0; k < 4; ++k) {
    if (sources[k])
      load_tile<W>(sources[k] + tl.d0 * N, N, tl.w, 0, N, targets[k]);
    else
      for (int64_t n = 0; n < N; ++n) targets[k][n] = vf<W>{};
  }
  for (int64_t n = 0; n < N; ++n) {
    r.A1l[n] = r.A1[n] * kLog2e;
    r.A2l[n] = r.A2[n] * kLog2e;
  }
}

// Columns [t0, t1) of the tile's grid, cell (v, t) at (t - t0) * V + v: the step sizes of
// both axes (and, with slopes, d dt / d delta) and the input.
template <int W>
struct Cells {
  vf<W> *dt1, *dt2, *slope1, *slope2, *u;
};

template <int W>
TSSSM_INLINE void step_sizes(const Scan2DArgs& a, vf<W> bias, int64_t nc, vf<W>* x,
                             vf<W>* slope) {
  for (int64_t i = 0; i < nc; ++i) {
    const vf<W> v = x[i] + bias;
    x[i] = a.softplus ? softplusv<W>(v) : v;
    if (slope) slope[i] = a.softplus ? sigmoidv<W>(v) : splat<W>(1.0f);
  }
}

template <int W>
TSSSM_INLINE void load_cells(const Scan2DArgs& a, const Tile& tl, int64_t t0, int64_t t1,
                             const Cells<W>& x, bool slopes) {
  const int64_t nc = (t1 - t0) * a.n_vars;
  load_columns<W>(a, tl, a.delta_time, t0, t1, x.dt1);
  step_sizes<W>(a, channel_vector<W>(a.bias_time, tl), nc, x.dt1, slopes ? x.slope1 : nullptr);
  load_columns<W>(a, tl, a.delta_var, t0, t1, x.dt2);
  step_sizes<W>(a, channel_vector<W>(a.bias_var, tl), nc, x.dt2, slopes ? x.slope2 : nullptr);
  load_columns<W>(a, tl, a.u, t0, t1, x.u);
}

// Columns [t0, t1) of a tile's grid; x holds the cells from column t0 on. On entry `ring`
// holds h1 at the `period` steps before t0 (slot = step mod period, [slot][variate][state])
// and `column` h2 at step t0 - 1 ([variate][state]); both are advanced in place. Writes
// y = <C1, h1> + <C2, h2> per cell when y is given and, with kKeep, every state to
// S1/S2[((t - t0) * V + v) * N + n]. B1..C2 are this batch item's [n_vars, length, state].
template <int W, int NS, bool kKeep>
TSSSM_INLINE void grid_columns(const Scan2DArgs& a, const Rates<W>& r, const Cells<W>& x,
                               const float* B1, const float* C1, const float* B2,
                               const float* C2, int64_t t0, int64_t t1, vf<W>* ring,
                               vf<W>* column, const vf<W>* zero, vf<W>* y, vf<W>* S1,
                               vf<W>* S2) {
  const int64_t N = NS > 0 ? NS : a.state, V = a.n_vars, P = a.period;
  for (int64_t t = t0; t < t1; ++t) {
    vf<W>* slot = ring + (t % P) * V * N;  // h1 at step t - P, overwritten with step t
    const vf<W>*h1_before = zero, *h2_before = zero;  // the previous variate in scan order
    for (int64_t i = 0; i < V; ++i) {
      const int64_t v = a.reverse ? V - 1 - i : i, c = v * a.length + t, k = (t - t0) * V + v;
      vf<W>* h1 = slot + v * N;    // in: h1[v, t - P]; out: h1[v, t]
      vf<W>* h2 = column + v * N;  // in: h2[v, t - 1]; out: h2[v, t]
      const vf<W> d1 = x.dt1[k], d2 = x.dt2[k], drive1 = d1 * x.u[k], drive2 = d2 * x.u[k];
      const float *b1 = B1 + c * N, *c1 = C1 + c * N, *b2 = B2 + c * N, *c2 = C2 + c * N;
      vf<W> acc0{}, acc1{};  // two partial sums in a fixed order: a shorter dependency chain
#pragma GCC unroll 16
      for (int64_t n = 0; n < N; ++n) {
        const vf<W> new1 = exp2v<W>(d1 * r.A1l[n]) * h1[n] + d1 * (r.A12[n] * h2[n]) +
                           drive1 * b1[n];
        const vf<W> new2 = exp2v<W>(d2 * r.A2l[n]) * h2_before[n] +
                           d2 * (r.A21[n] * h1_before[n]) + drive2 * b2[n];
        h1[n] = new1;
        h2[n] = new2;
        if (n % 2 == 0)
          acc0 += c1[n] * new1 + c2[n] * new2;
        else
          acc1 += c1[n] * new1 + c2[n] * new2;
        if (kKeep) {
          S1[k * N + n] = new1;
          S2[k * N + n] = new2;
        }
      }
      if (y) y[k] = acc0 + acc1;
      h1_before = h1;
      h2_before = h2;
    }
  }
}

// The tile's time states [variate][period][state] of a [batch, dim, ...] tensor, in or out
// of the ring's slots: slot (first + k) mod P holds period entry k.
template <int W, bool kStore>
TSSSM_INLINE void move_time_states(const Scan2DArgs& a, const Tile& tl, int64_t first,
                                   const float* in, float* out, vf<W>* ring, vf<W>* buffer) {
  const int64_t V = a.n_vars, P = a.period, N = a.state, per_channel = V * P * N;
  const int64_t offset = (tl.b * a.dim + tl.d0) * per_channel;
  if (!kStore) {
    if (in)
      load_tile<W>(in + offset, per_channel, tl.w, 0, per_channel, buffer);
    else
      for (int64_t i = 0; i < per_channel; ++i) buffer[i] = vf<W>{};
  }
  for (int64_t v = 0; v < V; ++v)
    for (int64_t k = 0; k < P; ++k) {
      vf<W>* slot = ring + ((((first + k) % P + P) % P) * V + v) * N;
      vf<W>* entry = buffer + (v * P + k) * N;
      if constexpr (kStore)
        std::memcpy(entry, slot, N * sizeof(vf<W>));
      else
        std::memcpy(slot, entry, N * sizeof(vf<W>));
    }
  if (kStore) store_tile<W>(buffer, per_channel, tl.w, 0, per_channel, out + offset);
}

// The tile's variate states [variate][state] of a [batch, dim, ...] tensor (zero if absent).
template <int W>
TSSSM_INLINE void load_var_states(const Scan2DArgs& a, const Tile& tl, const float* in,
                                  vf<W>* column) {
  const int64_t VN = a.n_vars * a.state;
  if (in)
    load_tile<W>(in + (tl.b * a.dim + tl.d0) * VN, VN, tl.w, 0, VN, column);
  else
    for (int64_t i = 0; i < VN; ++i) column[i] = vf<W>{};
}

template <int W>
TSSSM_INLINE void store_var_states(const Scan2DArgs& a, const Tile& tl, const vf<W>* column,
                                   float* out) {
  const int64_t VN = a.n_vars * a.state;
  store_tile<W>(column, VN, tl.w, 0, VN, out + (tl.b * a.dim + tl.d0) * VN);
}

// out = (y + D u) silu(z), in place over y.
template <int W>
TSSSM_INLINE void skip_and_gate(const Scan2DArgs& a, const Tile& tl, int64_t t0, int64_t t1,
                                const vf<W>* u, vf<W>* y, vf<W>* z) {
  const int64_t nc = (t1 - t0) * a.n_vars;
  const vf<W> Dv = channel_vector<W>(a.D, tl);
  for (int64_t i = 0; i < nc; ++i) y[i] += Dv * u[i];
  if (!a.z) return;
  load_columns<W>(a, tl, a.z, t0, t1, z);
  for (int64_t i = 0; i < nc; ++i) y[i] *= z[i] * sigmoidv<W>(z[i]);
}

// Columns per forward chunk: its scratch (step sizes, input, output) stays cache-sized.
constexpr int64_t kForwardChunkCells = 256;

template <int W, int NS>
TSSSM_INLINE void forward_tiles(const Scan2DArgs& a, int64_t tile_begin, int64_t tile_end,
                                float* out, float* time_last, float* var_last) {
  const int64_t N = a.state, V = a.n_vars, T = a.length, P = a.period, cells = V * T;
  const int64_t chunk = std::min<int64_t>(T, std::max<int64_t>(1, kForwardChunkCells / V));
  ScratchLayout<W> layout;
  const size_t o_dt1 = layout.take(chunk * V), o_dt2 = layout.take(chunk * V);
  const size_t o_u = layout.take(chunk * V), o_y = layout.take(chunk * V);
  const size_t o_ring = layout.take(P * V * N), o_column = layout.take(V * N);
  const size_t o_buffer = layout.take(P * V * N), o_zero = layout.take(N);
  const size_t o_rates = layout.take(6 * N);
  vf<W>* base = reinterpret_cast<vf<W>*>(thread_scratch(layout.floats));
  vf<W>* rates = base + o_rates / W;
  const Rates<W> r{rates, rates + N, rates + 2 * N, rates + 3 * N, rates + 4 * N, rates + 5 * N};
  const Cells<W> x{base + o_dt1 / W, base + o_dt2 / W, nullptr, nullptr, base + o_u / W};
  vf<W>*y = base + o_y / W, *ring = base + o_ring / W, *column = base + o_column / W;
  vf<W>*buffer = base + o_buffer / W, *zero = base + o_zero / W;
  for (int64_t n = 0; n < N; ++n) zero[n] = vf<W>{};
  for (int64_t index = tile_begin; index < tile_end; ++index) {
    const Tile tl = tile_at<W>(a, index);
    const int64_t bc = tl.b * cells * N;
    load_rates<W>(a, tl, r);
    move_time_states<W, false>(a, tl, 0, a.time_state0, nullptr, ring, buffer);
    load_var_states<W>(a, tl, a.var_state0, column);
    for (int64_t t0 = 0; t0 < T; t0 += chunk) {
      const int64_t t1 = std::min(T, t0 + chunk);
      load_cells<W>(a, tl, t0, t1, x, false);
      grid_columns<W, NS, false>(a, r, x, a.B_time + bc, a.C_time + bc, a.B_var + bc,
                                 a.C_var + bc, t0, t1, ring, column, zero, y, nullptr, nullptr);
      skip_and_gate<W>(a, tl, t0, t1, x.u, y, x.dt1);  // the step sizes are no longer needed
      store_columns<W>(a, tl, y, t0, t1, out);
    }
    // time_last[v][k] is h1 at step T - P + k.
    move_time_states<W, true>(a, tl, T - P, nullptr, time_last, ring, buffer);
    store_var_states<W>(a, tl, column, var_last);
  }
}

// The gradients of one cell: in, the gradient reaching h1[v, t] from later steps (pend),
// h2[v, t] from h1[v, t + 1] (to_h2) and both from the next variate (c1, c2); out, in place,
// what these states pass on to h1[v, t - P], h2[v, t - 1] and the previous variate's h1 and
// h2. Accumulates the decay and coupling gradients; returns d/du through the state and
// writes the per-state terms whose sums over channels are dB and dC, and d/d dt1, d/d dt2.
template <int W, int NS>
TSSSM_INLINE vf<W> cell_backward(int64_t N, const Rates<W>& r, const float* B1,
                                 const float* C1, const float* B2, const float* C2, vf<W> ut,
                                 vf<W> d1, vf<W> d2, vf<W> dy, const vf<W>* h1,
                                 const vf<W>* h2, const vf<W>* h1_lag, const vf<W>* h2_prev,
                                 const vf<W>* h1_before, const vf<W>* h2_before, vf<W>* pend,
                                 vf<W>* to_h2, vf<W>* c1, vf<W>* c2, vf<W>* const* dA,
                                 vf<W>* sB1, vf<W>* sC1, vf<W>* sB2, vf<W>* sC2, vf<W>* ddt1,
                                 vf<W>* ddt2) {
  vf<W>*dA1 = dA[0], *dA2 = dA[1], *dA12 = dA[2], *dA21 = dA[3];
  vf<W> ddt1_acc{}, ddt2_acc{}, du_acc{};
#pragma GCC unroll 16
  for (int64_t n = 0; n < (NS > 0 ? NS : N); ++n) {
    const vf<W> a1 = exp2v<W>(d1 * r.A1l[n]), a2 = exp2v<W>(d2 * r.A2l[n]);
    const vf<W> g1 = dy * C1[n] + c1[n] + pend[n];
    const vf<W> g2 = dy * C2[n] + c2[n] + to_h2[n];
    const vf<W> g1d = g1 * d1, g2d = g2 * d2;
    sC1[n] = dy * h1[n];
    sC2[n] = dy * h2[n];
    // h1 = a1 h1_lag + dt1 (A12 h2_prev + B1 u)
    const vf<W> decayed1 = a1 * h1_lag[n];
    ddt1_acc += g1 * (r.A1[n] * decayed1 + r.A12[n] * h2_prev[n] + B1[n] * ut);
    dA1[n] += g1d * decayed1;
    dA12[n] += g1d * h2_prev[n];
    sB1[n] = g1d * ut;
    // h2 = a2 h2_before + dt2 (A21 h1_before + B2 u)
    const vf<W> decayed2 = a2 * h2_before[n];
    ddt2_acc += g2 * (r.A2[n] * decayed2 + r.A21[n] * h1_before[n] + B2[n] * ut);
    dA2[n] += g2d * decayed2;
    dA21[n] += g2d * h1_before[n];
    sB2[n] = g2d * ut;
    du_acc += g1d * B1[n] + g2d * B2[n];
    pend[n] = g1 * a1;
    to_h2[n] = g1d * r.A12[n];
    c2[n] = g2 * a2;
    c1[n] = g2d * r.A21[n];
  }
  *ddt1 = ddt1_acc;
  *ddt2 = ddt2_acc;
  return du_acc;
}

// bc[j] += the sum of the lanes of v[j] for j < count (bc[j] = that sum when `first`, the
// batch item's first tile, so bc needs no zeroing; v is overwritten): groups of W vectors
// become W sums, stored as one vector, in a fixed order. v has room for count rounded up to
// W; the padding is zeroed here.
template <int W>
TSSSM_INLINE void add_channel_sums(vf<W>* v, int64_t count, float* bc, bool first) {
  const int64_t padded = (count + W - 1) / W * W;
  for (int64_t j = count; j < padded; ++j) v[j] = vf<W>{};
  for (int64_t j = 0; j < padded; j += W) {
    const int64_t m = std::min<int64_t>(W, count - j);
    const vf<W> sums = lane_sums<W>(v + j);
    store_floats<W>(first ? sums : load_floats<W>(bc + j, m) + sums, bc + j, m);
  }
}

// The backward keeps the states of one segment of columns at a time (recomputed from the
// checkpoint at the segment's start), so its scratch stays cache-sized however long the row.
constexpr int64_t kSegmentFloats = 1 << 18;  // both axes' states of a segment: 1 MiB

inline int64_t segment_steps(const Scan2DArgs& a, int W) {
  const int64_t fit = std::max<int64_t>(1, kSegmentFloats / (2 * a.n_vars * a.state * W));
  return std::min<int64_t>(a.length, a.segment > 0 ? a.segment : fit);
}

template <int W, int NS>
TSSSM_INLINE void backward_batches(const Scan2DArgs& a, const Scan2DGrads& g, int thread,
                                   int64_t batch_begin, int64_t batch_end) {
  const int64_t N = NS > 0 ? NS : a.state, V = a.n_vars, T = a.length, P = a.period;
  const int64_t cells = V * T, Dm = a.dim;
  const int64_t seg = segment_steps(a, W), n_seg = (T + seg - 1) / seg, sc = seg * V;
  // The per-state terms of dB and dC of a block of columns in memory order, [variate][step]
  // [state], added to dB and dC once the block is done: a block's N * block terms per
  // variate fill whole vectors (W / gcd(N, W) columns), so the sums take few shuffles, and the
  // buffer stays in the first-level cache.
  const int64_t block = std::min<int64_t>(seg, W / std::gcd<int64_t>(N, W));
  const int64_t run = (block * N + W - 1) / W * W, sums = V * run;
  ScratchLayout<W> layout;
  const size_t o_dt1 = layout.take(sc), o_dt2 = layout.take(sc), o_s1 = layout.take(sc);
  const size_t o_s2 = layout.take(sc), o_u = layout.take(sc), o_y = layout.take(sc);
  const size_t o_dy = layout.take(sc), o_z = layout.take(sc), o_du = layout.take(sc);
  const size_t o_ddt1 = layout.take(sc), o_ddt2 = layout.take(sc);
  const size_t o_S1 = layout.take(sc * N), o_S2 = layout.take(sc * N);
  const size_t o_sums = layout.take(4 * sums);
  const size_t o_ring = layout.take(P * V * N), o_column = layout.take(V * N);
  const size_t o_ckpt = layout.take(n_seg * (P + 1) * V * N);
  const size_t o_pend = layout.take(P * V * N), o_to_h2 = layout.take(V * N);
  const size_t o_buffer = layout.take(P * V * N), o_c = layout.take(2 * N);
  const size_t o_zero = layout.take(N), o_rates = layout.take(6 * N), o_dA = layout.take(4 * N);
  vf<W>* base = reinterpret_cast<vf<W>*>(thread_scratch(layout.floats));
  vf<W>* rates = base + o_rates / W;
  const Rates<W> r{rates, rates + N, rates + 2 * N, rates + 3 * N, rates + 4 * N, rates + 5 * N};
  const Cells<W> x{base + o_dt1 / W, base + o_dt2 / W, base + o_s1 / W, base + o_s2 / W,
                   base + o_u / W};
  vf<W>*y = base + o_y / W, *dy = base + o_dy / W, *z = base + o_z / W, *du = base + o_du / W;
  vf<W>*ddt1 = base + o_ddt1 / W, *ddt2 = base + o_ddt2 / W;
  vf<W>*S1 = base + o_S1 / W, *S2 = base + o_S2 / W, *sum_base = base + o_sums / W;
  vf<W>*sB1 = sum_base, *sC1 = sum_base + sums, *sB2 = sum_base + 2 * sums,
       *sC2 = sum_base + 3 * sums;
  vf<W>*ring = base + o_ring / W, *column = base + o_column / W, *ckpt = base + o_ckpt / W;
  vf<W>*pending = base + o_pend / W, *to_h2 = base + o_to_h2 / W, *buffer = base + o_buffer / W;
  vf<W>*c1 = base + o_c / W, *c2 = c1 + N, *zero = base + o_zero / W;
  vf<W>* const dA[] = {base + o_dA / W, base + o_dA / W + N, base + o_dA / W + 2 * N,
                       base + o_dA / W + 3 * N};
  for (int64_t n = 0; n < N; ++n) zero[n] = vf<W>{};
  const int64_t per_batch = tiles_per_batch<W>(a);

  for (int64_t index = batch_begin * per_batch; index < batch_end * per_batch; ++index) {
    const Tile tl = tile_at<W>(a, index);
    const int64_t bc = tl.b * cells * N;
    const float *B1 = a.B_time + bc, *C1 = a.C_time + bc, *B2 = a.B_var + bc,
                *C2 = a.C_var + bc;
    load_rates<W>(a, tl, r);
    const vf<W> Dv = channel_vector<W>(a.D, tl);

    // Replay, saving the states entering each segment (one segment: keep its states now).
    move_time_states<W, false>(a, tl, 0, a.time_state0, nullptr, ring, buffer);
    load_var_states<W>(a, tl, a.var_state0, column);
    for (int64_t k = 0; k < n_seg; ++k) {
      vf<W>* saved = ckpt + k * (P + 1) * V * N;
      std::memcpy(saved, ring, P * V * N * sizeof(vf<W>));
      std::memcpy(saved + P * V * N, column, V * N * sizeof(vf<W>));
      const int64_t t0 = k * seg, t1 = std::min(T, t0 + seg);
      load_cells<W>(a, tl, t0, t1, x, true);
      if (n_seg == 1)
        grid_columns<W, NS, true>(a, r, x, B1, C1, B2, C2, t0, t1, ring, column, zero, y, S1, S2);
      else
        grid_columns<W, NS, false>(a, r, x, B1, C1, B2, C2, t0, t1, ring, column, zero,
                                   nullptr, nullptr, nullptr);
    }

    // pending slot s mod P: the gradient reaching h1 at step s from later steps (s + P) and
    // from the last state; to_h2[v]: the gradient reaching h2[v, t] from h1[v, t + 1].
    move_time_states<W, false>(a, tl, T - P, g.dtime_state, nullptr, pending, buffer);
    load_var_states<W>(a, tl, g.dvar_state, to_h2);
    for (int64_t i = 0; i < 4 * N; ++i) dA[0][i] = vf<W>{};
    vf<W> dD_acc{}, dbias1_acc{}, dbias2_acc{};
    for (int64_t k = n_seg - 1; k >= 0; --k) {
      const int64_t t0 = k * seg, t1 = std::min(T, t0 + seg), nc = (t1 - t0) * V;
      const vf<W>* seg_ring = ckpt + k * (P + 1) * V * N;
      const vf<W>* seg_column = seg_ring + P * V * N;
      if (n_seg > 1) {
        std::memcpy(ring, seg_ring, P * V * N * sizeof(vf<W>));
        std::memcpy(column, seg_column, V * N * sizeof(vf<W>));
        load_cells<W>(a, tl, t0, t1, x, true);
        grid_columns<W, NS, true>(a, r, x, B1, C1, B2, C2, t0, t1, ring, column, zero, y, S1, S2);
      }

      // Through the gate and the skip: dy is the gradient of y = <C1, h1> + <C2, h2>.
      load_columns<W>(a, tl, g.dout, t0, t1, dy);
      if (a.z) {
        load_columns<W>(a, tl, a.z, t0, t1, z);
        for (int64_t i = 0; i < nc; ++i) {
          const vf<W> sz = sigmoidv<W>(z[i]), grad = dy[i];
          y[i] = grad * (y[i] + Dv * x.u[i]) * sz * (1.0f + z[i] * (1.0f - sz));  // now dz
          dy[i] = grad * z[i] * sz;
        }
        store_columns<W>(a, tl, y, t0, t1, g.dz);
      }
      for (int64_t i = 0; i < nc; ++i) {
        du[i] = dy[i] * Dv;
        dD_acc += dy[i] * x.u[i];
      }

      for (int64_t t = t1 - 1, block_begin = t1, block_end = t1; t >= t0; --t) {
        if (t < block_begin) {  // a new block: columns [block_begin, block_end)
          block_end = t + 1;
          block_begin = std::max(t0, block_end - block);
        }
        vf<W>* pend = pending + (t % P) * V * N;
        for (int64_t n = 0; n < 2 * N; ++n) c1[n] = vf<W>{};  // c1 and c2
        for (int64_t i = V - 1; i >= 0; --i) {
          const int64_t v = a.reverse ? V - 1 - i : i, kc = (t - t0) * V + v;
          const int64_t vp = a.reverse ? v + 1 : v - 1;  // the previous variate in scan order
          const vf<W>* h1_lag = t - P >= t0 ? S1 + (kc - P * V) * N : seg_ring + ((t % P) * V + v) * N;
          const vf<W>* h2_prev = t - 1 >= t0 ? S2 + (kc - V) * N : seg_column + v * N;
          const vf<W>* h1_before = i == 0 ? zero : S1 + ((t - t0) * V + vp) * N;
          const vf<W>* h2_before = i == 0 ? zero : S2 + ((t - t0) * V + vp) * N;
          const int64_t c = v * T + t, ks = v * run + (t - block_begin) * N;
          du[kc] += cell_backward<W, NS>(
              N, r, B1 + c * N, C1 + c * N, B2 + c * N, C2 + c * N, x.u[kc], x.dt1[kc],
              x.dt2[kc], dy[kc], S1 + kc * N, S2 + kc * N, h1_lag, h2_prev, h1_before,
              h2_before, pend + v * N, to_h2 + v * N, c1, c2, dA, sB1 + ks, sC1 + ks, sB2 + ks,
              sC2 + ks, ddt1 + kc, ddt2 + kc);
        }
        if (t == block_begin)
          for (int64_t v = 0; v < V; ++v) {
            const int64_t at = bc + (v * T + block_begin) * N, count = (block_end - t) * N;
            add_channel_sums<W>(sB1 + v * run, count, g.dB_time + at, tl.d0 == 0);
            add_channel_sums<W>(sC1 + v * run, count, g.dC_time + at, tl.d0 == 0);
            add_channel_sums<W>(sB2 + v * run, count, g.dB_var + at, tl.d0 == 0);
            add_channel_sums<W>(sC2 + v * run, count, g.dC_var + at, tl.d0 == 0);
          }
      }
      for (int64_t i = 0; i < nc; ++i) {
        ddt1[i] *= x.slope1[i];  // now d/d delta
        ddt2[i] *= x.slope2[i];
        dbias1_acc += ddt1[i];
        dbias2_acc += ddt2[i];
      }
      store_columns<W>(a, tl, du, t0, t1, g.du);
      store_columns<W>(a, tl, ddt1, t0, t1, g.ddelta_time);
      store_columns<W>(a, tl, ddt2, t0, t1, g.ddelta_var);
    }

    // What reached the steps before the grid is the gradient of the initial states.
    if (g.dtime_state0) move_time_states<W, true>(a, tl, 0, nullptr, g.dtime_state0, pending, buffer);
    if (g.dvar_state0) store_var_states<W>(a, tl, to_h2, g.dvar_state0);
    float* partials[] = {g.dA_time, g.dA_var, g.dA_var_to_time, g.dA_time_to_var};
    for (int k = 0; k < 4; ++k)
      if (partials[k])
        store_tile<W, true>(dA[k], N, tl.w, 0, N, partials[k] + (thread * Dm + tl.d0) * N);
    if (g.dD) add_lanes<W>(dD_acc, g.dD + thread * Dm + tl.d0, tl.w);
    if (g.dbias_time) add_lanes<W>(dbias1_acc, g.dbias_time + thread * Dm + tl.d0, tl.w);
    if (g.dbias_var) add_lanes<W>(dbias2_acc, g.dbias_var + thread * Dm + tl.d0, tl.w);
  }
}

// One instantiation per instruction set; the helpers above are inlined into each (flatten)
// and compiled for its target. The state sizes for_state_size names have their state loops
// unrolled.
#define SCAN2D_ISA_KERNELS(NAME, TARGET, W)                                                  \
  template <int NS>                                                                          \
  TARGET void NAME##_forward(const Scan2DArgs& a, int64_t begin, int64_t end, float* out,    \
                             float* time_last, float* var_last) {                            \
    forward_tiles<W, NS>(a, begin, end, out, time_last, var_last);                           \
  }                                                                                          \
  template <int NS>                                                                          \
  TARGET void NAME##_backward(const Scan2DArgs& a, const Scan2DGrads& g, int thread,        \
                              int64_t begin, int64_t end) {                                  \
    backward_batches<W, NS>(a, g, thread, begin, end);                                       \
  }

#if defined(__x86_64__)
SCAN2D_ISA_KERNELS(avx512, __attribute__((target("avx512f,avx2,fma"), flatten)), 16)
SCAN2D_ISA_KERNELS(avx2, __attribute__((target("avx2,fma"), flatten)), 8)
#endif
SCAN2D_ISA_KERNELS(generic, __attribute__((flatten)), 4)

// Tiles handled by each thread in the forward are at least this many cell-state updates,
// so that small calls do not pay more in wake-ups than they gain.
constexpr int64_t kMinUpdatesPerThread = 1 << 16;

int forward_threads(const Scan2DArgs& a, int64_t tiles) {
  const int64_t by_work = a.batch * a.dim * a.n_vars * a.length * a.state / kMinUpdatesPerThread;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({a.threads, tiles, by_work})));
}

// The last guard against sizes the kernel cannot scan (every size and the period >= 1; the
// kernel takes steps modulo the period). The Python wrapper checks first, with messages.
bool sizes_valid(const Scan2DArgs& a) {
  return a.batch >= 1 && a.dim >= 1 && a.n_vars >= 1 && a.length >= 1 && a.state >= 1 &&
         a.period >= 1;
}

}  // namespace

extern "C" {

// Version of this C interface; the Python loader refuses a library built from other sources.
int tsssm_scan2d_abi_version() { return 3; }

// Name of instruction set `isa` (0 generic, 1 AVX2, 2 AVX-512); -1: the one used by default.
const char* tsssm_scan2d_isa_name(int isa) { return kIsaNames[resolve_isa(isa)]; }

// Whether this CPU can run instruction set `isa`.
int tsssm_scan2d_isa_supported(int isa) {
  return isa >= 0 && isa <= kAvx512 && isa_supported(isa);
}

// Threads the backward uses (and so the partial-sum slices it needs): one per batch at most.
int64_t tsssm_scan2d_backward_threads(int64_t batch, int64_t threads) {
  return std::max<int64_t>(1, std::min<int64_t>(threads, batch));
}

// Returns 0, or -1 without touching any output for sizes the kernel refuses (sizes_valid).
int tsssm_scan2d_forward(const Scan2DArgs* args, float* out, float* time_last,
                         float* var_last) {
  if (!sizes_valid(*args)) return -1;
  const Scan2DArgs& a = *args;
  const int isa = resolve_isa(static_cast<int>(a.isa));
  const int64_t tiles = a.batch * ((a.dim + isa_width(isa) - 1) / isa_width(isa));
  for_state_size(a.state, [&](auto ns) {
    constexpr int NS = decltype(ns)::value;
    parallel_tiles(tiles, forward_threads(a, tiles), [&](int, int64_t begin, int64_t end) {
#if defined(__x86_64__)
      if (isa == kAvx512) return avx512_forward<NS>(a, begin, end, out, time_last, var_last);
      if (isa == kAvx2) return avx2_forward<NS>(a, begin, end, out, time_last, var_last);
#endif
      generic_forward<NS>(a, begin, end, out, time_last, var_last);
    });
  });
  return 0;
}

// Returns 0, or -1 without touching any gradient for sizes the kernel refuses (sizes_valid).
// Each thread takes whole batch items, so the [batch, ...] gradients of B and C are each
// written by one thread, in channel order.
int tsssm_scan2d_backward(const Scan2DArgs* args, const Scan2DGrads* grads) {
  if (!sizes_valid(*args)) return -1;
  const Scan2DArgs& a = *args;
  const Scan2DGrads& g = *grads;
  const int isa = resolve_isa(static_cast<int>(a.isa));
  const int threads = static_cast<int>(tsssm_scan2d_backward_threads(a.batch, a.threads));
  for_state_size(a.state, [&](auto ns) {
    constexpr int NS = decltype(ns)::value;
    parallel_tiles(a.batch, threads, [&](int thread, int64_t begin, int64_t end) {
#if defined(__x86_64__)
      if (isa == kAvx512) return avx512_backward<NS>(a, g, thread, begin, end);
      if (isa == kAvx2) return avx2_backward<NS>(a, g, thread, begin, end);
#endif
      generic_backward<NS>(a, g, thread, begin, end);
    });
  });
  return 0;
}

}  // extern "C"

// An empty Python module, so that the library installs as an ordinary extension module.
static struct PyModuleDef cpu_scan2d_module = {PyModuleDef_HEAD_INIT, "_cpu_scan2d",
                                               "Fused CPU 2-D selective scan (called via ctypes).",
                                               -1, nullptr};

PyMODINIT_FUNC PyInit__cpu_scan2d(void) { return PyModule_Create(&cpu_scan2d_module); }
