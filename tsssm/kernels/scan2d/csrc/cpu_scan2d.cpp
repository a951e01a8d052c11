// Fused 2-D selective scan for the CPU (Chimera): forward, and a backward that replays the
// grid from checkpoints and walks it in reverse. The recurrence is the one stated in
// ../reference.py (both couplings, period, initial states); every (batch, channel) row is one
// pass over its (variate x time) grid, time outer, variates inner, with the column of states
// in cache.
//
// Plain C++ with no torch headers: ../cpu.py fills the two argument structs below through
// ctypes with float32 pointers (null for an absent optional input). Layouts, all contiguous,
// time-major so that a column of the grid is contiguous in memory:
//   u, delta_time, delta_var, z, out (and their gradients) : [batch, dim, length, n_vars]
//   A_time, A_var, A_var_to_time, A_time_to_var (and grads): [dim, state]
//   B_time, C_time, B_var, C_var (and grads)               : [batch, length, n_vars, state]
//   D, bias_time, bias_var                                 : [dim]
//   time_state (in and out)                                : [batch, dim, n_vars, period, state]
//   var_state (in and out)                                 : [batch, dim, n_vars, state]
// The backward gives each thread whole batches, so the [batch, ...] gradients of B and C are
// written by one thread each, in channel order; the [dim, ...] ones go to per-thread slices
// that Python adds up in a fixed order. Results are bit-identical from run to run.

#include <Python.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SCAN2D_MULTIVERSION \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define SCAN2D_INLINE inline __attribute__((always_inline))
#else
#define SCAN2D_MULTIVERSION
#define SCAN2D_INLINE inline
#endif

extern "C" {

struct Scan2DArgs {
  const float *u, *delta_time, *delta_var, *A_time, *A_var, *A_var_to_time, *A_time_to_var;
  const float *B_time, *C_time, *B_var, *C_var, *D, *z, *bias_time, *bias_var;
  const float *time_state0, *var_state0;
  int64_t batch, dim, n_vars, length, state, period, softplus, reverse, threads, segment;
};

struct Scan2DGrads {
  const float *dout, *dtime_state, *dvar_state;            // incoming; the last two may be null
  float *du, *ddelta_time, *ddelta_var, *dz, *dtime_state0, *dvar_state0;
  float *dA_time, *dA_var, *dA_var_to_time, *dA_time_to_var;  // [threads, dim, state]
  float *dD, *dbias_time, *dbias_var;                         // [threads, dim]
  float *dB_time, *dC_time, *dB_var, *dC_var;                 // [batch, n_vars, length, state]
};

}  // extern "C"

namespace {

// exp(x) as 2^k * 2^f: k = round(x log2 e), 2^f on |f| <= 1/2 by a degree-6 Taylor polynomial
// of e^(f ln 2); relative error ~2e-7, no libm call, so loops over the state vectorise.
// Arguments below -87 give ~exp(-87) instead of a denormal.
SCAN2D_INLINE float exp_approx(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float k = std::nearbyint(x * 1.4426950409f);
  // k ln 2 in two parts (the first exact in float), so r stays accurate for large |x|.
  const float r = (x - k * 0.693359375f) + k * 2.12194440e-4f;  // in [-ln2/2, ln2/2]
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

SCAN2D_INLINE float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// log(1 + e) for e in [0, 1] as 2 atanh(s), s = e / (2 + e) in [0, 1/3]: an odd series in s
// whose terms past s^13 are below float precision. Vectorises, unlike a libm call.
SCAN2D_INLINE float log1p_unit(float e) {
  const float s = e / (2.0f + e), s2 = s * s;
  float series = 1.0f / 13.0f;
  for (float k : {11.0f, 9.0f, 7.0f, 5.0f, 3.0f, 1.0f}) series = series * s2 + 1.0f / k;
  return 2.0f * s * series;
}

// softplus(x) = max(x, 0) + log(1 + exp(-|x|)), stable for every x.
SCAN2D_INLINE float softplus(float x) {
  return std::max(x, 0.0f) + log1p_unit(exp_approx(-std::fabs(x)));
}

// Step sizes of one row [length * n_vars] and, when asked, d dt / d delta.
SCAN2D_INLINE void row_step_sizes(const Scan2DArgs& a, const float* delta, const float* bias, int64_t d,
                    float* dt, float* slope) {
  const int64_t cells = a.n_vars * a.length;
  const float b = bias ? bias[d] : 0.0f;
  if (a.softplus)
    for (int64_t c = 0; c < cells; ++c) dt[c] = softplus(delta[c] + b);
  else
    for (int64_t c = 0; c < cells; ++c) dt[c] = delta[c] + b;
  if (slope)
    for (int64_t c = 0; c < cells; ++c) slope[c] = a.softplus ? sigmoid(delta[c] + b) : 1.0f;
}

// The per-row view every pass needs: the row's inputs and its step sizes. An absent
// coupling points at zeros, so that the state loops have no branch and vectorise.
struct Row {
  int64_t b, d;
  const float *u, *A1, *A2, *A12, *A21;
  const float *B1, *C1, *B2, *C2;  // [length, n_vars, state] of this batch
  const float *dt1, *dt2;          // [length, n_vars]
};

#define SCAN2D_R __restrict__

// A sum over the state in a fixed order. With the state size unrolled (NS = 4, 8, 16) each
// term is kept in its lane and the lanes are added pairwise at the end, so the loop over the
// state computes whole vectors (without -fassociative-math a running `acc +=` keeps that loop
// scalar); otherwise (NS = 0) the terms are added left to right as they come.
template <int NS>
struct StateSum {
  static_assert(NS >= 0 && (NS & (NS - 1)) == 0, "unrolled state sizes are powers of two");
  float lanes[NS > 0 ? NS : 1] = {};
  SCAN2D_INLINE void set(int64_t n, float term) {
    if constexpr (NS > 0) lanes[n] = term; else lanes[0] += term;
  }
  SCAN2D_INLINE float total() {
    for (int width = NS / 2; width > 0; width /= 2)
      for (int k = 0; k < width; ++k) lanes[k] += lanes[k + width];
    return lanes[0];
  }
};

// One cell's state update: new1 = a1 h1_lag + dt1 (A12 h2_prev + B1 u) and new2 = a2 h2_before
// + dt2 (A21 h1_before + B2 u); returns <C1, new1> + <C2, new2>.
template <int NS>
SCAN2D_INLINE float cell_forward(int64_t N, const Row& r, const float* SCAN2D_R B1,
                                 const float* SCAN2D_R C1, const float* SCAN2D_R B2,
                                 const float* SCAN2D_R C2, float ut, float dt1, float dt2,
                                 const float* SCAN2D_R h1_lag, const float* SCAN2D_R h2_prev,
                                 const float* SCAN2D_R h1_before,
                                 const float* SCAN2D_R h2_before, float* SCAN2D_R new1,
                                 float* SCAN2D_R new2) {
  const float *SCAN2D_R A1 = r.A1, *SCAN2D_R A2 = r.A2, *SCAN2D_R A12 = r.A12,
              *SCAN2D_R A21 = r.A21;
  StateSum<NS> y;
  for (int64_t n = 0; n < (NS > 0 ? NS : N); ++n) {
    new1[n] = exp_approx(dt1 * A1[n]) * h1_lag[n] + dt1 * (A12[n] * h2_prev[n] + B1[n] * ut);
    new2[n] = exp_approx(dt2 * A2[n]) * h2_before[n] + dt2 * (A21[n] * h1_before[n] + B2[n] * ut);
    y.set(n, C1[n] * new1[n] + C2[n] * new2[n]);
  }
  return y.total();
}

// Columns [t_begin, t_end) of one row's grid. On entry `ring` holds h1 at the `period` steps
// before t_begin (slot = step mod period) and `column` h2 at step t_begin - 1; both are
// advanced in place. Writes y = <C1, h1> + <C2, h2> when y is given, and with kKeep every
// state, S1/S2[(t - t_begin) * V + v][n]. `zero` holds `state` zeros.
template <int NS, bool kKeep>
SCAN2D_INLINE void grid_columns(const Scan2DArgs& a, const Row& r, int64_t t_begin,
                                int64_t t_end, float* ring, float* column, float* y, float* S1,
                                float* S2, const float* zero, float* new1, float* new2) {
  const int64_t N = NS > 0 ? NS : a.state, V = a.n_vars, P = a.period;
  for (int64_t t = t_begin; t < t_end; ++t) {
    float* slot = ring + (t % P) * V * N;  // h1 at step t - P, overwritten with step t
    const float *h1_before = zero, *h2_before = zero;  // the previous variate in scan order
    for (int64_t i = 0; i < V; ++i) {
      const int64_t v = a.reverse ? V - 1 - i : i, c = t * V + v;
      float* h1 = slot + v * N;    // in: h1[v, t - P]; out: h1[v, t]
      float* h2 = column + v * N;  // in: h2[v, t - 1]; out: h2[v, t]
      const float acc = cell_forward<NS>(N, r, r.B1 + c * N, r.C1 + c * N, r.B2 + c * N,
                                         r.C2 + c * N, r.u[c], r.dt1[c], r.dt2[c], h1, h2,
                                         h1_before, h2_before, new1, new2);
      std::memcpy(h1, new1, N * sizeof(float));
      std::memcpy(h2, new2, N * sizeof(float));
      if (kKeep) {
        std::memcpy(S1 + ((t - t_begin) * V + v) * N, new1, N * sizeof(float));
        std::memcpy(S2 + ((t - t_begin) * V + v) * N, new2, N * sizeof(float));
      }
      if (y) y[c] = acc;
      h1_before = h1;
      h2_before = h2;
    }
  }
}

Row make_row(const Scan2DArgs& a, int64_t row, const float* dt1, const float* dt2,
             const float* zero) {
  const int64_t b = row / a.dim, d = row % a.dim, N = a.state;
  const int64_t cells = a.n_vars * a.length;
  const int64_t bc = b * cells * N;
  return Row{b, d, a.u + row * cells, a.A_time + d * N, a.A_var + d * N,
             a.A_var_to_time ? a.A_var_to_time + d * N : zero,
             a.A_time_to_var ? a.A_time_to_var + d * N : zero,
             a.B_time + bc, a.C_time + bc, a.B_var + bc, a.C_var + bc, dt1, dt2};
}

// The states before the grid: ring slot k holds h1 at step k - P, column h2 at step -1.
void load_initial_states(const Scan2DArgs& a, int64_t row, float* ring, float* column) {
  const int64_t V = a.n_vars, N = a.state, P = a.period;
  for (int64_t v = 0; v < V; ++v)
    for (int64_t k = 0; k < P; ++k)
      for (int64_t n = 0; n < N; ++n)
        ring[(k * V + v) * N + n] =
            a.time_state0 ? a.time_state0[((row * V + v) * P + k) * N + n] : 0.0f;
  for (int64_t i = 0; i < V * N; ++i) column[i] = a.var_state0 ? a.var_state0[row * V * N + i] : 0.0f;
}

template <int NS>
SCAN2D_MULTIVERSION void forward_rows(const Scan2DArgs& a, int64_t row_begin, int64_t row_end,
                                      float* out, float* time_last, float* var_last) {
  const int64_t V = a.n_vars, T = a.length, N = a.state, P = a.period, cells = V * T;
  std::vector<float> dt1(cells), dt2(cells), ring(P * V * N), zero(N, 0.0f), new1(N), new2(N);
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t d = row % a.dim;
    row_step_sizes(a, a.delta_time + row * cells, a.bias_time, d, dt1.data(), nullptr);
    row_step_sizes(a, a.delta_var + row * cells, a.bias_var, d, dt2.data(), nullptr);
    const Row r = make_row(a, row, dt1.data(), dt2.data(), zero.data());
    float* column = var_last + row * V * N;
    float* y = out + row * cells;
    load_initial_states(a, row, ring.data(), column);
    grid_columns<NS, false>(a, r, 0, T, ring.data(), column, y, nullptr, nullptr, zero.data(),
                            new1.data(), new2.data());
    // time_last[v][k] is h1 at step T - P + k, in ring slot (T - P + k) mod P.
    for (int64_t v = 0; v < V; ++v)
      for (int64_t k = 0; k < P; ++k)
        std::memcpy(time_last + ((row * V + v) * P + k) * N,
                    ring.data() + ((((T - P + k) % P + P) % P) * V + v) * N, N * sizeof(float));
    for (int64_t c = 0; c < cells; ++c) {
      float yc = y[c] + (a.D ? a.D[d] * r.u[c] : 0.0f);
      if (a.z) {
        const float zc = a.z[row * cells + c];
        yc *= zc * sigmoid(zc);
      }
      y[c] = yc;
    }
  }
}

// One cell of the reverse walk. In: g_lag (the gradient reaching h1[v, t] from later steps),
// g_next (reaching h2[v, t] from h1[v, t + 1]) and c1, c2 (reaching h1[v, t], h2[v, t] from
// the next variate); out, in place: the gradients these states pass on to h1[v, t - P],
// h2[v, t - 1] and the previous variate's h1, h2. Returns d/d dt1 and d/d dt2 through *ddt1,
// *ddt2 and d/du.
template <int NS>
SCAN2D_INLINE float cell_backward(
    int64_t N, const Row& r, const float* SCAN2D_R B1, const float* SCAN2D_R C1,
    const float* SCAN2D_R B2, const float* SCAN2D_R C2, float ut, float dt1, float dt2, float dy,
    const float* SCAN2D_R h1, const float* SCAN2D_R h2, const float* SCAN2D_R h1_lag,
    const float* SCAN2D_R h2_prev, const float* SCAN2D_R h1_before,
    const float* SCAN2D_R h2_before, float* SCAN2D_R g_lag, float* SCAN2D_R g_next,
    float* SCAN2D_R c1, float* SCAN2D_R c2, float* SCAN2D_R dB1, float* SCAN2D_R dC1,
    float* SCAN2D_R dB2, float* SCAN2D_R dC2, float* SCAN2D_R dA1, float* SCAN2D_R dA2,
    float* SCAN2D_R dA12, float* SCAN2D_R dA21, float* ddt1, float* ddt2) {
  const float *SCAN2D_R A1 = r.A1, *SCAN2D_R A2 = r.A2, *SCAN2D_R A12 = r.A12,
              *SCAN2D_R A21 = r.A21;
  StateSum<NS> ddt1_sum, ddt2_sum, du_sum;
  for (int64_t n = 0; n < (NS > 0 ? NS : N); ++n) {
    const float a1 = exp_approx(dt1 * A1[n]), a2 = exp_approx(dt2 * A2[n]);
    const float g1 = dy * C1[n] + c1[n] + g_lag[n];
    const float g2 = dy * C2[n] + c2[n] + g_next[n];
    dC1[n] += dy * h1[n];
    dC2[n] += dy * h2[n];
    // h1 = a1 h1_lag + dt1 (A12 h2_prev + B1 u)
    ddt1_sum.set(n, g1 * (A1[n] * a1 * h1_lag[n] + A12[n] * h2_prev[n] + B1[n] * ut));
    dA1[n] += g1 * dt1 * a1 * h1_lag[n];
    dA12[n] += g1 * dt1 * h2_prev[n];
    dB1[n] += g1 * dt1 * ut;
    du_sum.set(n, g1 * dt1 * B1[n] + g2 * dt2 * B2[n]);
    g_lag[n] = g1 * a1;
    g_next[n] = g1 * dt1 * A12[n];
    // h2 = a2 h2_before + dt2 (A21 h1_before + B2 u)
    ddt2_sum.set(n, g2 * (A2[n] * a2 * h2_before[n] + A21[n] * h1_before[n] + B2[n] * ut));
    dA2[n] += g2 * dt2 * a2 * h2_before[n];
    dA21[n] += g2 * dt2 * h1_before[n];
    dB2[n] += g2 * dt2 * ut;
    c2[n] = g2 * a2;
    c1[n] = g2 * dt2 * A21[n];
  }
  *ddt1 = ddt1_sum.total();
  *ddt2 = ddt2_sum.total();
  return du_sum.total();
}

// The backward keeps the states of one segment of columns at a time (recomputed from the
// checkpoint at the segment's start), so its scratch stays cache-sized however long the row.
constexpr int64_t kSegmentFloats = 1 << 15;

template <int NS>
SCAN2D_MULTIVERSION void backward_rows(const Scan2DArgs& a, const Scan2DGrads& g, int thread,
                                       int64_t batch_begin, int64_t batch_end) {
  const int64_t N = NS > 0 ? NS : a.state, V = a.n_vars, T = a.length, P = a.period;
  const int64_t cells = V * T, Dm = a.dim;
  const int64_t seg_default = std::max<int64_t>(1, kSegmentFloats / (V * N));
  const int64_t seg = std::min<int64_t>(T, a.segment > 0 ? a.segment : seg_default);
  const int64_t n_seg = (T + seg - 1) / seg;
  std::vector<float> dt1(cells), dt2(cells), slope1(cells), slope2(cells), y(cells), dy(cells);
  std::vector<float> ddt1(cells), ddt2(cells), ring(P * V * N), column(V * N);
  std::vector<float> ckpt_ring(n_seg * P * V * N), ckpt_column(n_seg * V * N);
  std::vector<float> S1(seg * V * N), S2(seg * V * N), new1(N), new2(N);
  std::vector<float> pending(P * V * N), to_h2(V * N), c1(N), c2(N), zero(N, 0.0f);
  std::vector<float> dA1(N), dA2(N), dA12(N), dA21(N);
  for (int64_t row = batch_begin * Dm; row < batch_end * Dm; ++row) {
    const int64_t d = row % Dm;
    row_step_sizes(a, a.delta_time + row * cells, a.bias_time, d, dt1.data(), slope1.data());
    row_step_sizes(a, a.delta_var + row * cells, a.bias_var, d, dt2.data(), slope2.data());
    const Row r = make_row(a, row, dt1.data(), dt2.data(), zero.data());
    const int64_t bc = r.b * cells * N;
    float *dB1 = g.dB_time + bc, *dC1 = g.dC_time + bc, *dB2 = g.dB_var + bc,
          *dC2 = g.dC_var + bc;

    // Replay, saving the states entering each segment (one segment: keep its states now).
    load_initial_states(a, row, ring.data(), column.data());
    for (int64_t k = 0; k < n_seg; ++k) {
      std::memcpy(ckpt_ring.data() + k * P * V * N, ring.data(), P * V * N * sizeof(float));
      std::memcpy(ckpt_column.data() + k * V * N, column.data(), V * N * sizeof(float));
      const int64_t t0 = k * seg, t1 = std::min(T, t0 + seg);
      if (n_seg == 1)
        grid_columns<NS, true>(a, r, t0, t1, ring.data(), column.data(), y.data(), S1.data(),
                               S2.data(), zero.data(), new1.data(), new2.data());
      else
        grid_columns<NS, false>(a, r, t0, t1, ring.data(), column.data(), y.data(), nullptr,
                                nullptr, zero.data(), new1.data(), new2.data());
    }

    // Through the gate and the skip: dy is the gradient of y = <C1, h1> + <C2, h2>.
    const float Dd = a.D ? a.D[d] : 0.0f;
    const float* dout = g.dout + row * cells;
    float* du = g.du + row * cells;
    float dD_row = 0.0f;
    for (int64_t c = 0; c < cells; ++c) {
      float grad = dout[c];
      if (a.z) {
        const float zc = a.z[row * cells + c], sz = sigmoid(zc);
        g.dz[row * cells + c] = grad * (y[c] + Dd * r.u[c]) * sz * (1.0f + zc * (1.0f - sz));
        grad *= zc * sz;
      }
      dy[c] = grad;
      du[c] = grad * Dd;
      dD_row += grad * r.u[c];
    }

    // pending slot s mod P: the gradient reaching h1 at step s from later steps (s + P) and
    // from the last state; to_h2[v]: the gradient reaching h2[v, t] from h1[v, t + 1].
    for (int64_t v = 0; v < V; ++v) {
      for (int64_t k = 0; k < P; ++k) {
        const int64_t slot = ((T - P + k) % P + P) % P;
        for (int64_t n = 0; n < N; ++n)
          pending[(slot * V + v) * N + n] =
              g.dtime_state ? g.dtime_state[((row * V + v) * P + k) * N + n] : 0.0f;
      }
      for (int64_t n = 0; n < N; ++n)
        to_h2[v * N + n] = g.dvar_state ? g.dvar_state[(row * V + v) * N + n] : 0.0f;
    }
    for (auto* acc : {&dA1, &dA2, &dA12, &dA21}) std::fill(acc->begin(), acc->end(), 0.0f);
    for (int64_t k = n_seg - 1; k >= 0; --k) {
      const int64_t t0 = k * seg, t1 = std::min(T, t0 + seg);
      const float* seg_ring = ckpt_ring.data() + k * P * V * N;
      const float* seg_column = ckpt_column.data() + k * V * N;
      if (n_seg > 1) {
        std::memcpy(ring.data(), seg_ring, P * V * N * sizeof(float));
        std::memcpy(column.data(), seg_column, V * N * sizeof(float));
        grid_columns<NS, true>(a, r, t0, t1, ring.data(), column.data(), nullptr, S1.data(),
                               S2.data(), zero.data(), new1.data(), new2.data());
      }
      for (int64_t t = t1 - 1; t >= t0; --t) {
        float* pend = pending.data() + (t % P) * V * N;
        const float* states1 = S1.data() + (t - t0) * V * N;
        const float* states2 = S2.data() + (t - t0) * V * N;
        std::fill(c1.begin(), c1.end(), 0.0f);
        std::fill(c2.begin(), c2.end(), 0.0f);
        for (int64_t i = V - 1; i >= 0; --i) {
          const int64_t v = a.reverse ? V - 1 - i : i, c = t * V + v;
          const int64_t vp = a.reverse ? v + 1 : v - 1;  // the previous variate in scan order
          const float* h1_lag = t - P >= t0 ? S1.data() + ((t - P - t0) * V + v) * N
                                            : seg_ring + ((t % P) * V + v) * N;
          const float* h2_prev = t - 1 >= t0 ? S2.data() + ((t - 1 - t0) * V + v) * N
                                             : seg_column + v * N;
          du[c] += cell_backward<NS>(
              N, r, r.B1 + c * N, r.C1 + c * N, r.B2 + c * N, r.C2 + c * N, r.u[c], dt1[c],
              dt2[c], dy[c], states1 + v * N, states2 + v * N, h1_lag, h2_prev,
              i == 0 ? zero.data() : states1 + vp * N, i == 0 ? zero.data() : states2 + vp * N,
              pend + v * N, to_h2.data() + v * N, c1.data(), c2.data(), dB1 + c * N,
              dC1 + c * N, dB2 + c * N, dC2 + c * N, dA1.data(), dA2.data(), dA12.data(),
              dA21.data(), &ddt1[c], &ddt2[c]);
        }
      }
    }

    // What reached the steps before the grid is the gradient of the initial states.
    if (g.dtime_state0)
      for (int64_t v = 0; v < V; ++v)
        for (int64_t k = 0; k < P; ++k)
          std::memcpy(g.dtime_state0 + ((row * V + v) * P + k) * N,
                      pending.data() + (k * V + v) * N, N * sizeof(float));
    if (g.dvar_state0)
      std::memcpy(g.dvar_state0 + row * V * N, to_h2.data(), V * N * sizeof(float));
    float dbias1 = 0.0f, dbias2 = 0.0f;
    float* dd1 = g.ddelta_time + row * cells;
    float* dd2 = g.ddelta_var + row * cells;
    for (int64_t c = 0; c < cells; ++c) {
      dd1[c] = ddt1[c] * slope1[c];
      dd2[c] = ddt2[c] * slope2[c];
      dbias1 += dd1[c];
      dbias2 += dd2[c];
    }
    const int64_t pd = (thread * Dm + d) * N;
    for (int64_t n = 0; n < N; ++n) {
      g.dA_time[pd + n] += dA1[n];
      g.dA_var[pd + n] += dA2[n];
      if (g.dA_var_to_time) g.dA_var_to_time[pd + n] += dA12[n];
      if (g.dA_time_to_var) g.dA_time_to_var[pd + n] += dA21[n];
    }
    if (g.dD) g.dD[thread * Dm + d] += dD_row;
    if (g.dbias_time) g.dbias_time[thread * Dm + d] += dbias1;
    if (g.dbias_var) g.dbias_var[thread * Dm + d] += dbias2;
  }
}

// Runs fn(thread, begin, end) over contiguous ranges of `items`, one range per thread.
template <typename Fn>
void parallel_ranges(int64_t items, int64_t threads, Fn fn) {
  threads = std::max<int64_t>(1, std::min<int64_t>(threads, items));
  const int64_t per = (items + threads - 1) / threads;
  std::vector<std::thread> pool;
  for (int64_t i = 1; i < threads; ++i) {
    const int64_t begin = i * per, end = std::min(items, begin + per);
    if (begin < end) pool.emplace_back(fn, static_cast<int>(i), begin, end);
  }
  fn(0, 0, std::min(items, per));
  for (auto& th : pool) th.join();
}

template <int NS>
void forward(const Scan2DArgs& a, float* out, float* time_last, float* var_last) {
  parallel_ranges(a.batch * a.dim, a.threads, [&](int, int64_t begin, int64_t end) {
    forward_rows<NS>(a, begin, end, out, time_last, var_last);
  });
}

template <int NS>
void backward(const Scan2DArgs& a, const Scan2DGrads& g) {
  parallel_ranges(a.batch, a.threads, [&](int thread, int64_t begin, int64_t end) {
    backward_rows<NS>(a, g, thread, begin, end);
  });
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
int tsssm_scan2d_abi_version() { return 2; }

// Threads the backward uses (and so the partial-sum slices it needs): one per batch at most.
int64_t tsssm_scan2d_backward_threads(int64_t batch, int64_t threads) {
  return std::max<int64_t>(1, std::min<int64_t>(threads, batch));
}

// Returns 0, or -1 without touching any output for sizes the kernel refuses (sizes_valid).
int tsssm_scan2d_forward(const Scan2DArgs* a, float* out, float* time_last, float* var_last) {
  if (!sizes_valid(*a)) return -1;
  switch (a->state) {  // state sizes compiled with the state loop unrolled
    case 4: forward<4>(*a, out, time_last, var_last); break;
    case 8: forward<8>(*a, out, time_last, var_last); break;
    case 16: forward<16>(*a, out, time_last, var_last); break;
    default: forward<0>(*a, out, time_last, var_last); break;
  }
  return 0;
}

// Returns 0, or -1 without touching any gradient for sizes the kernel refuses (sizes_valid).
int tsssm_scan2d_backward(const Scan2DArgs* a, const Scan2DGrads* g) {
  if (!sizes_valid(*a)) return -1;
  switch (a->state) {
    case 4: backward<4>(*a, *g); break;
    case 8: backward<8>(*a, *g); break;
    case 16: backward<16>(*a, *g); break;
    default: backward<0>(*a, *g); break;
  }
  return 0;
}

}  // extern "C"

// An empty Python module, so that the library installs as an ordinary extension module.
static struct PyModuleDef cpu_scan2d_module = {PyModuleDef_HEAD_INIT, "_cpu_scan2d",
                                               "Fused CPU 2-D selective scan (called via ctypes).",
                                               -1, nullptr};

PyMODINIT_FUNC PyInit__cpu_scan2d(void) { return PyModule_Create(&cpu_scan2d_module); }
