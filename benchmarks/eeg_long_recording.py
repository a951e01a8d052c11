"""Scoring a long EEG recording: FEMBA streaming vs a transformer encoder of similar size, on
1 minute, 10 minutes and 1 hour of 19-channel EEG at 256 Hz (random data).

- FEMBA (``femba``, the paper's tiny sizes: 2 bidirectional Mamba blocks, embed_dim 35, 2 x 16
  patches, d_model 350): ``model.stream`` over consecutive 5-s windows, the forward scans
  carried from window to window, so every window's logits depend on the whole recording
  before it.
- Transformer: ``torch.nn.TransformerEncoder`` (4 layers, d_model 350, 5 heads, feed-forward
  1400: about as many parameters) over the same patch tokens (FEMBA's patch embedding) of the
  whole recording at once: full attention is how a transformer sees the whole context. Two
  runs: PyTorch's inference path as it comes (``transformer``: on CPU its fused attention never
  holds the whole [tokens x tokens] matrix, so memory grows linearly and time quadratically),
  and with the plain attention that training uses (``transformer_plain``: ``sdpa_kernel(MATH)``
  materialises the attention matrix, memory quadratic).

Each measurement runs in a fresh process (``spawn``) whose address space is capped with
``resource.setrlimit(RLIMIT_AS)`` (default 6 GiB), so a model that needs more fails with a
MemoryError/RuntimeError, caught and printed as "out of memory at N tokens", instead of
taking the machine's memory. Peak memory is the peak resident set above what the process held
once model and recording were built (see ``peak_memory.py``); time is one pass, inference only,
one thread. Prints a table and the ratios 1 h / 1 min (time, per recorded second: 1.0 is
linear; memory: 1.0 is flat).

    python benchmarks/eeg_long_recording.py [--minutes 1 10 60] [--kinds ...] [--limit-gib 6]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import queue
import resource
import time
from pathlib import Path
from typing import Any

import torch
from peak_memory import memory_kib
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from tsssm.models import create_model

N_CHANS, SFREQ, WINDOW = 19, 256, 1280  # 5-s windows
FEMBA = {"embed_dim": 35, "n_blocks": 2, "patch_chans": 2, "patch_times": 16, "d_state": 16,
         "expand": 4}
KINDS = ("femba_stream", "transformer", "transformer_plain")


class PatchTransformer(nn.Module):
    """Recording [1, C, T] -> patch tokens [1, N, D] (FEMBA's embedding) -> transformer
    encoder over all N tokens -> mean -> logits [1, 2]."""

    def __init__(self, patch_embed: nn.Module, d_model: int) -> None:
        super().__init__()
        self.patch_embed = patch_embed
        layer = nn.TransformerEncoderLayer(d_model, nhead=5, dim_feedforward=4 * d_model,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 2)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embed(x)  # [1, G, N, E]
        return patches.transpose(1, 2).flatten(2)  # [1, N, G * E]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.tokens(x)).mean(dim=1))


def build(kind: str, minutes: float) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    femba = create_model("femba", n_chans=N_CHANS, n_times=WINDOW, n_outputs=2, **FEMBA).eval()
    recording = torch.randn(1, N_CHANS, round(minutes * 60 * SFREQ) // WINDOW * WINDOW)
    if kind == "femba_stream":
        return femba, recording
    return PatchTransformer(femba.encoder.patch_embed, femba.encoder.d_model).eval(), recording


@torch.no_grad()
def work(kind: str, model: nn.Module, recording: torch.Tensor) -> None:
    if kind == "femba_stream":
        for _ in model.stream(recording.split(WINDOW, dim=-1)):
            pass
    elif kind == "transformer_plain":
        with sdpa_kernel(SDPBackend.MATH):
            model(recording)
    else:
        model(recording)


def child(kind: str, minutes: float, limit_bytes: int, results: mp.Queue) -> None:
    torch.set_num_threads(1)
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    model, recording = build(kind, minutes)
    tokens = recording.shape[-1] // FEMBA["patch_times"]
    Path("/proc/self/clear_refs").write_text("5")  # peak (VmHWM) counted from here
    base = memory_kib("VmRSS")
    start = time.perf_counter()
    try:
        work(kind, model, recording)
    except (MemoryError, RuntimeError) as error:
        results.put({"tokens": tokens, "oom": str(error).strip().splitlines()[0][:80]})
        return
    results.put({"tokens": tokens, "seconds": time.perf_counter() - start,
                 "peak_mib": (memory_kib("VmHWM") - base) / 1024,
                 "parameters": sum(p.numel() for p in model.parameters())})


def measure(kind: str, minutes: float, limit_gib: float, timeout_s: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=child, args=(kind, minutes, int(limit_gib * 2**30), results))
    process.start()
    try:
        result = results.get(timeout=timeout_s)
    except queue.Empty:
        process.kill()
        result = {"timeout": timeout_s}
    process.join()
    if process.exitcode not in (0, None) and not result:
        result = {"oom": f"process died (exit code {process.exitcode})"}
    return result


def cell(result: dict[str, Any]) -> str:
    if "oom" in result:
        return f"out of memory at {result['tokens']} tokens"
    if "timeout" in result:
        return f"not done in {result['timeout']:.0f} s"
    return f"{result['seconds']:8.2f} s {result['peak_mib']:9.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--limit-gib", type=float, default=6.0,
                        help="address-space cap of each measuring process")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds one measurement may take")
    args = parser.parse_args()
    table = {(kind, m): measure(kind, m, args.limit_gib, args.timeout)
             for m in args.minutes for kind in args.kinds}
    print(f"19 channels at 256 Hz, 5-s windows, {FEMBA['patch_times']}-sample patches; "
          f"address space capped at {args.limit_gib:g} GiB per process")
    for kind in args.kinds:
        params = [r["parameters"] for (k, _), r in table.items() if k == kind and
                  "parameters" in r]
        print(f"{kind}: {params[0] if params else '?'} parameters")
    print(f"{'recording':>10s} {'tokens':>8s}   " + " ".join(f"{k:<32s}" for k in args.kinds))
    for m in args.minutes:
        tokens = next(r["tokens"] for (_, n), r in table.items() if n == m and "tokens" in r)
        cells = " ".join(f"{cell(table[(kind, m)]):<32s}" for kind in args.kinds)
        print(f"{m:8g} m {tokens:8d}   {cells}")
    first, last = args.minutes[0], args.minutes[-1]
    for kind in args.kinds:
        a, b = table[(kind, first)], table[(kind, last)]
        if "seconds" in a and "seconds" in b:
            per_second = (b["seconds"] / last) / (a["seconds"] / first)
            print(f"{kind}: {last:g} m vs {first:g} m: time per recorded second x"
                  f"{per_second:.2f} (1.0 = linear), peak memory x"
                  f"{b['peak_mib'] / max(a['peak_mib'], 1e-3):.2f} (1.0 = flat)")
    for kind in args.kinds[1:]:
        for m in args.minutes:
            f, t = table[(args.kinds[0], m)], table[(kind, m)]
            if "seconds" in f and "seconds" in t:
                print(f"{m:g} m: {kind} / {args.kinds[0]}: time x"
                      f"{t['seconds'] / f['seconds']:.1f}, memory x"
                      f"{t['peak_mib'] / max(f['peak_mib'], 1e-3):.1f}")


if __name__ == "__main__":
    main()
