"""A partial file and its record: what a new run trusts, and what a record may claim."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from models_app.downloads.partial import (
    PartialFile,
    kept_bytes,
    partial_path,
    record_path,
)

DATA = bytes(range(256)) * 64  # 16 KiB
SHA = hashlib.sha256(DATA).hexdigest()


def record(final: Path) -> dict:
    return json.loads(record_path(final).read_text())


def test_a_new_partial_records_that_it_holds_nothing_before_any_byte(tmp_path):
    final = tmp_path / "f.bin"

    partial = PartialFile(final, len(DATA), SHA, 4096)

    assert record(final) == {"size": len(DATA), "sha256": SHA, "spans": []}
    assert partial.kept == [] and partial_path(final).stat().st_size == 0
    partial.close()


def test_bytes_written_at_offsets_are_kept_for_the_next_run_once_recorded(tmp_path):
    final = tmp_path / "f.bin"
    partial = PartialFile(final, len(DATA), SHA, 4096)
    partial.write(8192, memoryview(DATA[8192:12288]))
    partial.write(0, memoryview(DATA[:1000]))
    partial.save_record([(8192, 12288), (0, 1000)])
    partial.write(1000, memoryview(DATA[1000:2000]))  # after the record: not claimed
    partial.close()

    again = PartialFile(final, len(DATA), SHA, 4096)

    assert again.kept == [(0, 1000), (8192, 12288)]
    assert kept_bytes(final, len(DATA), SHA) == 5096
    again.close()


def test_a_record_for_another_size_or_sha256_or_none_at_all_means_starting_over(tmp_path):
    final = tmp_path / "f.bin"
    partial = PartialFile(final, len(DATA), SHA, 4096)
    partial.write(0, memoryview(DATA[:4096]))
    partial.save_record([(0, 4096)])
    partial.close()
    assert kept_bytes(final, len(DATA), "0" * 64) == kept_bytes(final, 1, SHA) == 0

    other = PartialFile(final, len(DATA), "0" * 64, 4096)

    assert other.kept == [] and partial_path(final).stat().st_size == 0
    other.close()
    record_path(final).unlink()
    partial_path(final).write_bytes(DATA[:4096])
    assert PartialFile(final, len(DATA), "0" * 64, 4096).kept == []


def test_finish_hashes_in_file_order_whatever_order_the_bytes_came_in(tmp_path):
    final = tmp_path / "f.bin"
    partial = PartialFile(final, len(DATA), SHA, 1000)
    for start in (12288, 4096, 0, 8192):
        partial.write(start, memoryview(DATA[start:start + 4096]))
        partial.hash_ahead([(0, 4096)] if start == 0 else [])

    size, digest = partial.finish([(0, len(DATA))])
    partial.promote()

    assert (size, digest) == (len(DATA), SHA)
    assert final.read_bytes() == DATA
    assert not partial_path(final).exists() and not record_path(final).exists()


def test_discard_deletes_the_partial_and_its_record(tmp_path):
    final = tmp_path / "f.bin"
    partial = PartialFile(final, len(DATA), SHA, 4096)

    partial.discard()

    assert list(tmp_path.iterdir()) == []


def test_a_partial_that_cannot_get_its_first_record_is_not_left_behind(tmp_path):
    final = tmp_path / "f.bin"
    (tmp_path / "f.bin.partial.json.tmp").mkdir()  # the record cannot be written

    with pytest.raises(IsADirectoryError):
        PartialFile(final, len(DATA), SHA, 4096)

    assert not partial_path(final).exists() and not record_path(final).exists()
