"""exo's models dumped without their aliases: where exo writes a model with plain
``model_dump_json()`` (``/instance/await``), its camelCase keys come out snake_case, while tags
and map keys (node, runner ids) stay as they are."""

from __future__ import annotations

import re
from typing import Any

# Keys whose values are maps keyed by ids, not models.
MAPS = frozenset({"runnerToShard", "nodeToRunner", "hostsByNode", "jacclCoordinators"})
TAGS = re.compile(r"^[A-Z]")  # union tags are class names: MlxRingInstance, TensorShardMetadata


def snake_case(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def snake_instance(value: Any, in_map: bool = False) -> Any:
    """A copy of an exo document with its field names in snake_case."""
    if isinstance(value, list):
        return [snake_instance(item) for item in value]
    if not isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    for key, item in value.items():
        name = key if in_map or TAGS.match(key) else snake_case(key)
        result[name] = snake_instance(item, in_map=key in MAPS and not in_map)
    return result
