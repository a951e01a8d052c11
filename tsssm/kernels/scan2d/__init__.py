"""Chimera's 2-D selective scan over a (variate x time) grid (one op, one folder).

- ``reference.py``: the recurrence as a plain double loop, the specification (the exact
  equations are written there).
- ``cpu.py`` (+ ``csrc/cpu_scan2d.cpp``): the fused C++ kernel, forward and a hand-written
  backward that replays from checkpoints; the fast path on the CPU.
- ``triton_scan2d.py``: the fused Triton kernel, one program per (batch, channel block)
  sweeping time with the column of states beside it, and a hand-written backward that replays
  from checkpoints; the path on CUDA (tested on the CPU in Triton's interpreter).
- ``parallel.py``: pure PyTorch on batched calls of the 1-D :func:`tsssm.kernels.selective_scan`
  (two passes without couplings; exact alternating rounds with them); the fallback on any
  device (``chunked``), and ``triton-rounds`` on the 1-D Triton kernels.
- ``api.py``: the public function, input validation and backend choice.

How this relates to the paper (Behrouz, Santacatterina, Zabih, "Chimera", NeurIPS 2024,
arXiv 2406.04320). The paper discretises a Roesser-type 2-D SSM with two hidden states per
cell, ``h1`` carried along time and ``h2`` carried along variates::

    h1[v,t] = A1 h1[v,t-1] + A2 h2[v,t-1] + B1 x[v,t]
    h2[v,t] = A3 h1[v-1,t] + A4 h2[v-1,t] + B2 x[v,t]        y[v,t] = C1 h1 + C2 h2

with diagonal, input-dependent (selective) parameters and step sizes on both axes; diagonal
``A`` gives its "2-D Mamba", scalar-times-identity ``A`` its "2-D Mamba-2". Here:

- ``A1 = exp(dt1 A_time)``, ``A4 = exp(dt2 A_var)``, ``B1 = dt1 B_time``, ``B2 = dt2 B_var``
  (zero-order hold for ``A``, Euler for ``B``, as Mamba), with ``dt1``, ``dt2``, ``B``,
  ``C`` given per cell, i.e. input-dependent on both axes;
- ``A2 = dt1 A_var_to_time`` and ``A3 = dt2 A_time_to_var``, diagonal over the state, any
  sign, each optional: the first-order terms of the coupled system's matrix exponential;
- the time state may step from ``t - period`` (a seasonal lag) instead of ``t - 1``;
- bidirectionality over variates is ``reverse_variates``; layers run both directions and
  mix them (:class:`tsssm.layers.SSM2D`).

Special cases (tested): without couplings the output is the sum of a 1-D scan along time per
variate and a 1-D scan along variates per time step; with one variate and ``C_var = 0`` (and
no variate -> time coupling) it is exactly the 1-D selective scan (Mamba); with ``A``
constant over the state it equals the Mamba-2 (SSD) quadratic form along each axis.
"""

from .api import BACKENDS_2D, available_backends_2d, selective_scan_2d

__all__ = ["BACKENDS_2D", "available_backends_2d", "selective_scan_2d"]
