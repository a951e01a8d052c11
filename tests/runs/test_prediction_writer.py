"""``PredictionWriter``: predictions.parquet written chunk by chunk, atomically, with the
other models' rows streamed over from the file it replaces."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from tsssm.runs import PREDICTIONS, RunFolder


def rows(model: str, start: int, stop: int) -> pl.DataFrame:
    return pl.DataFrame({"model": [model] * (stop - start),
                         "step": list(range(start, stop)),
                         "value": [float(i) / 3 for i in range(start, stop)]})


def row_groups(path: Path) -> list[int]:
    file = pq.ParquetFile(path)
    return [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)]


def test_rows_are_written_in_chunks_of_chunk_rows(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    cuts = [0, 5, 8, 19, 21, 30]  # frames of 5, 3, 11, 2 and 9 rows
    with folder.prediction_writer("a", chunk_rows=7) as writer:
        for start, stop in itertools.pairwise(cuts):
            writer.write(rows("a", start, stop))
            # Never more than one chunk waits in memory.
            assert writer.pending_rows < 7
        assert not folder.file(PREDICTIONS).exists()  # nothing is visible before the end
    assert writer.rows == 30
    assert row_groups(folder.file(PREDICTIONS)) == [7, 7, 7, 7, 2]
    assert_frame_equal(pl.read_parquet(folder.file(PREDICTIONS)), rows("a", 0, 30))


def test_write_slices_builds_one_chunk_at_a_time(tmp_path: Path) -> None:
    asked: list[tuple[int, int]] = []

    def frame_of(start: int, stop: int) -> pl.DataFrame:
        asked.append((start, stop))
        return rows("a", start, stop)

    with RunFolder(tmp_path).prediction_writer("a", chunk_rows=4) as writer:
        writer.write_slices(10, frame_of)
    assert asked == [(0, 4), (4, 8), (8, 10)]
    assert_frame_equal(pl.read_parquet(tmp_path / PREDICTIONS), rows("a", 0, 10))


def test_a_model_replaces_only_its_own_rows(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.record_predictions("a", rows("a", 0, 6))
    folder.record_predictions("b", rows("b", 0, 4))
    with folder.prediction_writer("a", chunk_rows=3) as writer:
        writer.write(rows("a", 10, 15))
    assert_frame_equal(pl.read_parquet(folder.file(PREDICTIONS)),
                       pl.concat([rows("b", 0, 4), rows("a", 10, 15)]))
    assert max(row_groups(folder.file(PREDICTIONS))) <= 3  # copied rows are chunked too


def test_a_failed_evaluation_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.record_predictions("a", rows("a", 0, 6))
    with pytest.raises(RuntimeError, match="scoring failed"), \
            folder.prediction_writer("a", chunk_rows=2) as writer:
        writer.write(rows("a", 20, 25))
        raise RuntimeError("scoring failed")
    assert_frame_equal(pl.read_parquet(folder.file(PREDICTIONS)), rows("a", 0, 6))
    assert [p.name for p in tmp_path.iterdir()] == [PREDICTIONS]  # no temporary file left


def test_writing_nothing_leaves_no_file(tmp_path: Path) -> None:
    with RunFolder(tmp_path).prediction_writer("a"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_rows_unlike_the_file_are_refused_by_name(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.record_predictions("a", rows("a", 0, 3))
    with pytest.raises(ValueError, match=r"rows of 'b' have the columns \['model', 'other'\], "
                                         r"without \['step', 'value'\]"):
        folder.record_predictions("b", pl.DataFrame({"model": ["b"], "other": [1]}),
                                  required=("model", "step", "value"))
    with pytest.raises(ValueError, match=r"rows of 'b' have the columns .*types differ"):
        folder.record_predictions("b", rows("b", 0, 2).with_columns(pl.col("value").cast(str)))
    assert_frame_equal(pl.read_parquet(folder.file(PREDICTIONS)), rows("a", 0, 3))


def test_columns_only_some_models_have_are_null_for_the_others(tmp_path: Path) -> None:
    # A quantile model's extra columns, written before and after a point model's rows.
    folder = RunFolder(tmp_path)
    folder.record_predictions("point", rows("point", 0, 2))
    folder.record_predictions("quantile", rows("quantile", 0, 2).with_columns(q=pl.lit(0.5)))
    folder.record_predictions("late_point", rows("late_point", 0, 1))
    frame = pl.read_parquet(folder.file(PREDICTIONS))
    assert frame.columns == ["model", "step", "value", "q"]
    assert frame.group_by("model").agg(pl.col("q").null_count()).sort("model").rows() == [
        ("late_point", 1), ("point", 2), ("quantile", 0)]
