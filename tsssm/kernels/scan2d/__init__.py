"""Chimera's 2-D selective scan over a (variate x time) grid (one op, one folder).

- ``reference.py``: the recurrence as a plain double loop, the specification (the exact
  equations are written there).
- ``parallel.py``: the pure-PyTorch path on batched calls of the 1-D
  :func:`tsssm.kernels.selective_scan` (one along time, one along variates).
- ``api.py``: the public function, input validation and backend choice.

How this relates to the paper (Behrouz, Santacatterina, Zabih, "Chimera", NeurIPS 2024,
arXiv 2406.04320). The paper discretises a Roesser-type 2-D SSM with two hidden states per
cell, ``h1`` carried along time and ``h2`` carried along variates::

    h1[v,t] = A1 h1[v,t-1] + A2 h2[v,t-1] + B1 x[v,t]
    h2[v,t] = A3 h1[v-1,t] + A4 h2[v-1,t] + B2 x[v,t]        y[v,t] = C1 h1 + C2 h2

with diagonal, input-dependent (selective) parameters and step sizes on both axes; diagonal
``A`` gives its "2-D Mamba", scalar-times-identity ``A`` its "2-D Mamba-2". What tsssm
implements, and where it simplifies:

- ``A1 = exp(dt1 A_time)``, ``A4 = exp(dt2 A_var)``, ``B1 = dt1 B_time``, ``B2 = dt2 B_var``
  (zero-order hold for ``A``, Euler for ``B``, as Mamba), with ``dt1``, ``dt2``, ``B``,
  ``C`` given per cell, i.e. input-dependent on both axes.
- ``A2 = 0``: the variate state does not flow back into the time state. With both couplings
  the cell ``(v,t)`` depends on its whole upper-left quadrant through every lattice path and
  no split into 1-D scans exists; with one direction the recurrence splits exactly into a
  time pass and a variate pass, both on the shared fused 1-D kernel (fast, linear memory).
- ``A3`` is rank one over the state, input dependent: ``A3 = dt2 B_var coupling C_time^T``,
  i.e. the previous variate's time read-out ``y1[v-1,t] = <C_time, h1[v-1,t]>`` enters the
  variate state as extra input. This keeps the time -> variate information flow within the
  1-D contract (whose input is a per-channel scalar) instead of materialising every ``h1``.
- The paper's two heads with different discretisations (long-term progression vs.
  seasonal) are realised by ``period``: the seasonal head's time state steps from
  ``t - period`` to ``t`` (a seasonal, SARIMA-like lag), the trend head's from ``t - 1``.
- Bidirectionality over variates is ``reverse_variates``; layers run both directions and
  mix them (:class:`tsssm.layers.SSM2D`).

Special cases (tested): ``coupling=None`` makes the output the sum of a 1-D scan along time
per variate and a 1-D scan along variates per time step; with one variate and ``C_var = 0``
it is exactly the 1-D selective scan (Mamba); with ``A`` constant over the state it equals
the Mamba-2 (SSD) quadratic form along each axis.
"""

from .api import BACKENDS_2D, available_backends_2d, selective_scan_2d

__all__ = ["BACKENDS_2D", "available_backends_2d", "selective_scan_2d"]
