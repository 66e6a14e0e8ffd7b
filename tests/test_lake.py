"""Partition swaps: a failed or killed load never leaves half a partition."""

from datetime import date

import pytest

from hourglass import lake

DAY = date(2026, 11, 20)


def test_error_while_writing_keeps_the_old_partition(home):
    dataset = lake.raw_dataset("crm_customers")
    with lake.replacing_partitions([dataset], DAY) as (staging,):
        (staging / "a.parquet").write_text("old")
    with pytest.raises(RuntimeError), lake.replacing_partitions([dataset], DAY) as (staging,):
        (staging / "a.parquet").write_text("new")
        raise RuntimeError("killed")
    assert (lake.partition_dir(dataset, DAY) / "a.parquet").read_text() == "old"
    assert [p.name for p in dataset.iterdir()] == ["load_date=2026-11-20"]


def test_recover_restores_a_partition_whose_swap_was_cut_off(home):
    dataset = lake.raw_dataset("crm_customers")
    # What a process killed between the two renames leaves: the old partition moved aside, no new one.
    moved = dataset / ".old-deadbeef-load_date=2026-11-20"
    moved.mkdir(parents=True)
    (moved / "a.parquet").write_text("old")
    (dataset / ".tmp-deadbeef").mkdir()
    lake.recover(dataset)
    assert (lake.partition_dir(dataset, DAY) / "a.parquet").read_text() == "old"
    assert [p.name for p in dataset.iterdir()] == ["load_date=2026-11-20"]
