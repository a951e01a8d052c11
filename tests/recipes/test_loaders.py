"""Deterministic, shardable, resumable data loading (tsssm.recipes.loaders)."""

from __future__ import annotations

import torch

from tsssm.training import EpochSampler, ResumableDataLoader


def batches(sampler: EpochSampler, size: int) -> list[list[int]]:
    order = list(sampler)
    return [order[i : i + size] for i in range(0, len(order) - size + 1, size)]


def test_order_depends_on_seed_and_epoch_only() -> None:
    a, b = EpochSampler(50, shuffle=True, seed=3), EpochSampler(50, shuffle=True, seed=3)
    assert list(a) == list(b) and sorted(a) == list(range(50))
    a.set_epoch(1)
    assert list(a) != list(b)
    assert list(EpochSampler(7, shuffle=False)) == list(range(7))


def test_shards_together_make_the_single_process_batches() -> None:
    # Batch k of all ranks together == batch k of one process with the global batch.
    n, world, per_rank = 103, 2, 4
    single = batches(EpochSampler(n, shuffle=True, seed=1), per_rank * world)
    ranks = [batches(EpochSampler(n, True, 1, rank, world), per_rank) for rank in range(world)]
    for k, whole in enumerate(single):
        assert sorted(whole) == sorted(ranks[0][k] + ranks[1][k])


def test_validation_shards_cover_every_window_once() -> None:
    shards = [list(EpochSampler(11, False, rank=r, world_size=3, drop_tail=False))
              for r in range(3)]
    assert sorted(i for shard in shards for i in shard) == list(range(11))


def test_loader_resumes_where_it_stopped() -> None:
    data = torch.arange(40.0)

    def loader() -> ResumableDataLoader:
        return ResumableDataLoader(data, EpochSampler(40, shuffle=True, seed=5), batch_size=4,
                                   drop_last=True)

    full = loader()
    full.sampler.set_epoch(2)
    expected = [b.tolist() for b in full]
    interrupted = loader()
    interrupted.sampler.set_epoch(2)
    iterator = iter(interrupted)
    seen = [next(iterator).tolist() for _ in range(3)]
    state = interrupted.state_dict()
    assert state == {"epoch": 2, "batches_done": 3}

    resumed = loader()
    resumed.load_state_dict(state)
    resumed.sampler.set_epoch(2)  # Lightning does this after restoring
    assert seen + [b.tolist() for b in resumed] == expected
    assert resumed.state_dict()["batches_done"] == len(expected)
    # The skip was for that epoch only.
    resumed.sampler.set_epoch(3)
    assert len(list(resumed)) == len(expected)
