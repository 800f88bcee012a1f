"""exo's id formats, checked before an id from a request can reach a URL or a body sent to exo
(exo has no authentication: a path such as `../_sim/faults` would be obeyed).

Formats, from exo's own JSON (`exo-samples/`): instance ids are UUIDs (`str(uuid4())`); model ids
are Hugging Face repo ids (`mlx-community/Llama-3.2-1B-Instruct-4bit`), or the short ids of exo
v1.0.60-63 (`llama-3.2-1b`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from rest_framework import serializers

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

INSTANCE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The Hub's rule for a repo name: letters, digits, `-`, `_` and `.`, neither first nor last a
# `-` or `.`, at most 96 characters, and no `--` or `..` anywhere (so never a `..` segment).
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
MODEL_ID = re.compile(rf"(?!.*(?:--|\.\.))(?:{_NAME}/)?{_NAME}")


def is_instance_id(value: str) -> bool:
    return INSTANCE_ID.fullmatch(value) is not None


class InstanceIdField(serializers.CharField):
    """An exo instance id: a lower-case UUID, kept as the string exo wrote."""

    default_error_messages: ClassVar[dict[str, StrOrPromise]] = {
        "invalid_id": "not an exo instance id: exo's instance ids are UUIDs "
                      "(e.g. 3f9a2c1b-5d4e-4f6a-8b7c-9d0e1f2a3b4c)."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=36, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not is_instance_id(value):
            self.fail("invalid_id")
        return value


class ModelIdField(serializers.CharField):
    """An exo model id: a Hugging Face repo id (`org/name`) or an older short id."""

    default_error_messages: ClassVar[dict[str, StrOrPromise]] = {
        "invalid_id": "not an exo model id: a Hugging Face repo id such as "
                      "mlx-community/Llama-3.2-1B-Instruct-4bit."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=193, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if MODEL_ID.fullmatch(value) is None:
            self.fail("invalid_id")
        return value
