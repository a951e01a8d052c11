"""Data loading for recipes: deterministic, shardable, resumable mid-epoch.

Why not a shuffled ``DataLoader`` and Lightning's ``DistributedSampler``: a run killed in the
middle of an epoch must, once resumed, see exactly the batches it had not seen yet, and a
distributed run must see, in every step, the same windows as a single process with the same
global batch. :class:`EpochSampler` draws each epoch's order from ``(seed, epoch)`` only and
shards it ``rank::world_size``, so batch ``k`` of all ranks together is batch ``k`` of one
process with ``world_size`` times the batch; :class:`ResumableDataLoader` records how many
batches of the epoch it has handed out, and Lightning saves that in its checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tsssm.data.windows import WindowDataset

from .config import ConfigError


class EpochSampler(Sampler[int]):
    """The indices of one process for one epoch.

    Order: a permutation of ``range(n)`` seeded by ``seed + epoch`` (or ``range(n)`` when not
    shuffling); the ``n % world_size`` last ones are dropped when ``drop_tail`` (so that every
    rank gets as many); this rank keeps every ``world_size``-th from ``rank``. ``skip`` leading
    indices of the next epoch pass are left out (set when resuming mid-epoch).
    """

    def __init__(
        self, n: int, shuffle: bool, seed: int = 0, rank: int = 0, world_size: int = 1,
        drop_tail: bool = True,
    ) -> None:
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size, self.drop_tail = rank, world_size, drop_tail
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int) -> None:
        # Lightning calls this at every epoch start, also right after a mid-epoch restore:
        # the pending skip belongs to that epoch only.
        if epoch != self.epoch:
            self.skip = 0
        self.epoch = epoch

    def _shard(self) -> torch.Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.n, generator=generator)
        else:
            order = torch.arange(self.n)
        end = self.n - self.n % self.world_size if self.drop_tail else self.n
        return order[self.rank : end : self.world_size]

    def __iter__(self) -> Iterator[int]:
        start, self.skip = self.skip, 0
        return iter(self._shard()[start:].tolist())

    def __len__(self) -> int:
        end = self.n - self.n % self.world_size if self.drop_tail else self.n
        return len(range(self.rank, end, self.world_size))


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` over an :class:`EpochSampler` whose position inside the epoch is saved
    in Lightning checkpoints (``state_dict``/``load_state_dict``) and restored on resume."""

    sampler: EpochSampler

    def __init__(self, dataset: Dataset, sampler: EpochSampler, batch_size: int,
                 **kwargs: Any) -> None:
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self._batches_done = 0

    def __iter__(self) -> Iterator[Any]:
        self._batches_done = self.sampler.skip // self.batch_size
        for batch in super().__iter__():
            self._batches_done += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches_done": self._batches_done}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.epoch = state["epoch"]
        self.sampler.skip = state["batches_done"] * self.batch_size


class SplitDataModule(pl.LightningDataModule):
    """Train/val/test loaders over three datasets; ``batch_size`` is the global batch.

    Training batches come from a shuffled, sharded, resumable :class:`EpochSampler`
    (incomplete last batch dropped); validation sees every item once across processes; the
    test runs in one process. ``collate_fn`` builds a batch from items (default: stacking).
    ``val`` or ``test`` may be None (an estimator without held-out data):
    :func:`tsssm.training.fit` then skips validation.
    """

    def __init__(self, train: Dataset, val: Dataset | None, test: Dataset | None,
                 batch_size: int,
                 seed: int, num_workers: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None) -> None:
        super().__init__()
        self.splits = {"train": train, "val": val, "test": test}
        self.batch_size, self.seed = batch_size, seed
        self.loader_options: dict[str, Any] = {"num_workers": num_workers,
                                               "collate_fn": collate_fn}

    def _per_process_batch(self) -> tuple[int, int, int]:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        if self.batch_size % world:
            raise ConfigError(
                f"train.batch_size {self.batch_size} is the global batch; it must divide "
                f"evenly among the {world} processes of this run"
            )
        return rank, world, self.batch_size // world

    def train_dataloader(self) -> ResumableDataLoader:
        rank, world, batch = self._per_process_batch()
        n = len(self.splits["train"])
        if n < self.batch_size:
            raise ConfigError(f"the train split has {n} items, fewer than one batch of "
                              f"{self.batch_size}; lower train.batch_size")
        sampler = EpochSampler(n, shuffle=True, seed=self.seed, rank=rank, world_size=world)
        return ResumableDataLoader(self.splits["train"], sampler, batch, drop_last=True,
                                   **self.loader_options)

    def val_dataloader(self) -> DataLoader:
        # Not drop_tail: every validation item counts once, whatever the number of ranks.
        rank, world, batch = self._per_process_batch()
        sampler = EpochSampler(len(self.splits["val"]), shuffle=False, rank=rank,
                               world_size=world, drop_tail=False)
        return DataLoader(self.splits["val"], batch_size=batch, sampler=sampler,
                          **self.loader_options)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.splits["test"], batch_size=self.batch_size,
                          **self.loader_options)


class WindowDataModule(SplitDataModule):
    """:class:`SplitDataModule` whose training windows know the epoch being drawn, for the
    seeds of their augmentation."""

    def train_dataloader(self) -> ResumableDataLoader:
        loader = super().train_dataloader()
        train = self.splits["train"]
        if isinstance(train, WindowDataset):
            # Workers copy the dataset when an epoch starts, after the sampler's set_epoch.
            train.sampler = loader.sampler
        return loader
