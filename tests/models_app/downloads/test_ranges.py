"""Byte spans and the pieces a file is cut into: pure functions, exact answers."""

from __future__ import annotations

import pytest

from models_app.downloads.ranges import MIB, clipped, covered, merged, missing, plan, prefix_end


def test_merged_sorts_joins_touching_and_overlapping_spans_and_drops_empty_ones():
    assert merged([(10, 20), (0, 5), (5, 7), (15, 30), (40, 40), (35, 36)]) == [
        (0, 7), (10, 30), (35, 36)]


def test_covered_counts_overlaps_once():
    assert covered([(0, 10), (5, 15), (20, 21)]) == 16
    assert covered([]) == 0


def test_clipped_keeps_what_is_inside_the_file():
    assert clipped([(-5, 3), (8, 20), (30, 40)], 10) == [(0, 3), (8, 10)]


@pytest.mark.parametrize(("done", "size", "gaps"), [
    ([], 100, [(0, 100)]),
    ([(0, 100)], 100, []),
    ([(10, 20), (50, 60)], 100, [(0, 10), (20, 50), (60, 100)]),
    ([(0, 30), (20, 40), (90, 200)], 100, [(40, 90)]),
    ([], 0, []),
])
def test_missing_is_the_complement_within_the_file(done, size, gaps):
    assert missing(done, size) == gaps


def test_prefix_end_is_where_the_bytes_from_0_stop():
    assert prefix_end([(5, 10)]) == 0
    assert prefix_end([(10, 20), (0, 10), (30, 40)]) == 20
    assert prefix_end([]) == 0


def test_plan_covers_the_gaps_exactly_with_pieces_that_shrink_towards_the_end():
    gaps = [(0, 1024 * MIB)]

    pieces = plan(gaps, 8, smallest=16 * MIB, largest=128 * MIB, align=64 * 1024)

    assert merged(pieces) == gaps and covered(pieces) == sum(b - a for a, b in pieces)
    sizes = [b - a for a, b in pieces]
    assert sizes[0] == 64 * MIB  # a sixteenth of the file: 1 / (2 x 8 connections)
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)
    assert min(sizes) == 16 * MIB and sizes[-1] < 32 * MIB  # the rest joined the last
    assert all(a % (64 * 1024) == 0 for a, _ in pieces)


def test_plan_keeps_to_the_largest_piece_and_cuts_each_gap_on_its_own():
    pieces = plan([(0, 10 * MIB), (20 * MIB, 21 * MIB)], 1, smallest=MIB, largest=2 * MIB,
                  align=MIB)

    assert pieces == [(0, 2 * MIB), (2 * MIB, 4 * MIB), (4 * MIB, 6 * MIB), (6 * MIB, 8 * MIB),
                      (8 * MIB, 10 * MIB), (20 * MIB, 21 * MIB)]


def test_a_small_file_is_one_piece():
    assert plan([(0, 1000)], 8, smallest=16 * MIB, largest=128 * MIB, align=4096) == [(0, 1000)]
    assert plan([], 8, smallest=16 * MIB, largest=128 * MIB, align=4096) == []
