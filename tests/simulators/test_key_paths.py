"""The key-path helper the exo contract tests use."""

from __future__ import annotations

from typing import Any

from tests.simulators.key_paths import key_paths, shape, shape_difference


def test_keys_join_with_dots_and_list_items_collapse() -> None:
    document = {"a": {"b": [{"c": 1}, {"c": 2, "d": None}]}, "e": 3}
    assert key_paths(document) == {"a", "a.b", "a.b[]", "a.b[].c", "a.b[].d", "e"}


def test_map_keys_become_stars_where_the_suffix_says_so() -> None:
    document = {"runners": {"r1": {"RunnerReady": {}}, "r2": {"RunnerFailed": {"x": 1}}},
                "topology": {"connections": {"n1": {"n2": [{"p": 1}]}}},
                "ids": {"n1": 1}}
    maps = ("runners", "topology.connections", "topology.connections.*")
    assert key_paths(document, maps) == {
        "runners", "runners.*", "runners.*.RunnerReady", "runners.*.RunnerFailed",
        "runners.*.RunnerFailed.x", "topology", "topology.connections",
        "topology.connections.*", "topology.connections.*.*", "topology.connections.*.*[]",
        "topology.connections.*.*[].p", "ids", "ids.n1",
    }


def test_a_suffix_matches_whole_keys_only() -> None:
    assert key_paths({"myfiles": {"a": 1}}, ("files",)) == {"myfiles", "myfiles.a"}
    assert key_paths({"x": {"files": {"a": 1}}}, ("files",)) == {"x", "x.files", "x.files.*"}


def test_empty_containers_are_listed() -> None:
    found = shape({"a": {}, "b": [], "c": {"d": []}, "e": [1]})
    assert (found.empty_dicts, found.empty_lists) == ({"a"}, {"b", "c.d"})


def test_difference_is_both_ways() -> None:
    sample = {"a": 1, "b": {"c": 2}}
    produced = {"a": 1, "b": {"d": 2}, "e": 3}
    assert shape_difference(sample, produced) == ({"b.c"}, {"b.d", "e"})


def test_what_fills_an_empty_container_of_the_sample_is_not_extra() -> None:
    sample: dict[str, Any] = {"tasks": {}, "list": [], "backends": {}}
    produced = {"tasks": {"t1": {"X": {}}}, "list": [{"k": 1}], "backends": {"n": ["Mlx"]}}
    assert shape_difference(sample, produced, ("tasks", "backends")) == (set(), set())
    assert shape_difference({"tasksx": {}}, {"tasks": {"t": 1}}) == (
        {"tasksx"}, {"tasks", "tasks.t"})


def test_an_empty_list_produced_misses_nothing_an_empty_dict_does() -> None:
    sample = {"tags": ["a"], "card": {"k": 1}}
    assert shape_difference(sample, {"tags": [], "card": {"k": 1}}) == (set(), set())
    assert shape_difference(sample, {"tags": ["b"], "card": {}}) == ({"card.k"}, set())
