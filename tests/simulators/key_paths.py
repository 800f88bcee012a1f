"""The shape of a JSON document as a set of key paths, to hold one document to another's.

``{"a": {"b": [{"c": 1}]}}`` has the paths ``a``, ``a.b``, ``a.b[]`` and ``a.b[].c``: keys joined
by dots, a list's items as ``[]`` (all items in one, whatever their number). The keys of a map
(a dict keyed by data, such as node ids) are ``*``; which dicts are maps is said by suffixes of
their normalised path, e.g. ``runners`` or ``topology.connections.*``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Shape:
    paths: set[str] = field(default_factory=set)
    empty_dicts: set[str] = field(default_factory=set)
    empty_lists: set[str] = field(default_factory=set)


def _is_map(path: str, maps: Collection[str]) -> bool:
    return any(path == suffix or path.endswith(f".{suffix}") for suffix in maps)


def shape(document: Any, maps: Collection[str] = ()) -> Shape:
    """The document's key paths, and which of them are empty dicts or lists."""
    found = Shape()

    def walk(value: Any, path: str) -> None:
        if path:
            found.paths.add(path)
        if isinstance(value, dict):
            if not value and path:
                found.empty_dicts.add(path)
            as_map = _is_map(path, maps)
            for key, item in value.items():
                name = "*" if as_map else str(key)
                walk(item, f"{path}.{name}" if path else name)
        elif isinstance(value, list):
            if not value and path:
                found.empty_lists.add(path)
            for item in value:
                walk(item, f"{path}[]")

    walk(document, "")
    return found


def key_paths(document: Any, maps: Collection[str] = ()) -> set[str]:
    """Every key path of the document, map keys and list indices normalised."""
    return shape(document, maps).paths


def under(path: str, ends: Collection[str]) -> bool:
    """Whether the path lies strictly below one of ``ends``."""
    return any(len(path) > len(end) and path.startswith(end) and path[len(end)] in ".["
               for end in ends)


def shape_difference(sample: Any, produced: Any, maps: Collection[str] = ()
                     ) -> tuple[set[str], set[str]]:
    """(missing, extra): the sample's paths the produced document lacks, and the produced
    document's paths the sample lacks. An empty container shows no shape for its contents:
    what lies under an empty dict or list of the sample is not extra, and what lies under an
    empty list of the produced document is not missing (a list's length is data, a dict's
    keys are not)."""
    wanted, got = shape(sample, maps), shape(produced, maps)
    missing = {p for p in wanted.paths - got.paths if not under(p, got.empty_lists)}
    extra = {p for p in got.paths - wanted.paths
             if not under(p, wanted.empty_dicts | wanted.empty_lists)}
    return missing, extra
