"""The one way the panel talks to the Hugging Face Hub: huggingface_hub, never hand-written HTTP.

Reads a repo's files (sizes, LFS hashes), its config.json and its safetensors headers, and turns
the Hub's failures into messages a person can act on.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import httpx2
from django.conf import settings
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    NotASafetensorsRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    SafetensorsParsingError,
)
from huggingface_hub.utils import validate_repo_id

from arthur_panel.exceptions import DomainError
from cluster_app.health import deployment
from cluster_app.health.checks import Outcome

COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
# The guide's test model: what the doctor asks the Hub about.
HUB_CHECK_REPO = "mlx-community/Llama-3.2-1B-Instruct-4bit"
# The files exo needs to run a model (mirrors exo's own download filter).
NEEDED_SUFFIXES = (".safetensors", ".json", ".jinja", ".model", ".tiktoken", ".txt")


class HubError(DomainError):
    code = "hub_error"


@dataclass
class HubFile:
    path: str
    size: int
    sha256: str | None  # LFS files only


@dataclass
class RepoMetadata:
    repo_id: str
    sha: str
    gated: bool
    files: list[HubFile]
    config: dict[str, Any]
    parameters_by_dtype: dict[str, int] = field(default_factory=dict)

    @property
    def needed_files(self) -> list[HubFile]:
        return [f for f in self.files if f.path.endswith(NEEDED_SUFFIXES)
                or f.path.startswith("tokenizer")]

    @property
    def weights_bytes(self) -> int:
        return sum(f.size for f in self.files if f.path.endswith(".safetensors"))

    @property
    def quantization_bits(self) -> int | None:
        quantization = self.config.get("quantization") or self.config.get("quantization_config")
        bits = quantization.get("bits") if isinstance(quantization, dict) else None
        return int(bits) if bits else None

    @property
    def parameter_count(self) -> int | None:
        """Parameters from the safetensors headers; MLX packs quantized weights into uint32,
        so those count 32/bits parameters each."""
        if not self.parameters_by_dtype:
            return None
        bits = self.quantization_bits
        return sum(count * (32 // bits if dtype == "U32" and bits else 1)
                   for dtype, count in self.parameters_by_dtype.items())


def hub_api() -> HfApi:
    return HfApi(endpoint=settings.HF_ENDPOINT, token=settings.HF_TOKEN or False)


def hub_check() -> Outcome:
    """The doctor's check: does the Hub at HF_ENDPOINT answer about the guide's test model?
    Any answer will do (a mirror may not have it); a search would retry for half a minute."""
    started = time.perf_counter()
    try:
        hub_api().repo_exists(HUB_CHECK_REPO)
    except (httpx2.TransportError, ConnectionError, HfHubHTTPError) as exc:
        return deployment.hub(endpoint=settings.HF_ENDPOINT, error=str(exc) or repr(exc))
    return deployment.hub(endpoint=settings.HF_ENDPOINT, error=None,
                          elapsed_ms=round((time.perf_counter() - started) * 1000))


def check_repo_id(repo_id: str) -> str:
    repo_id = repo_id.strip()
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise HubError(f"'{repo_id}' is not a Hugging Face repo id: expected 'org/name', like "
                       "mlx-community/Llama-3.2-1B-Instruct-4bit.",
                       code="invalid_repo_id") from None
    if "/" not in repo_id:
        raise HubError(f"'{repo_id}' is not a Hugging Face repo id: expected 'org/name', like "
                       "mlx-community/Llama-3.2-1B-Instruct-4bit.", code="invalid_repo_id")
    return repo_id


@contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into HubErrors with a clear message."""
    try:
        yield
    except GatedRepoError:
        raise HubError(f"'{repo_id}' is gated: accept its licence on the Hub, then set HF_TOKEN "
                       "to a token of that account.", code="gated_repo", status_code=403) from None
    except RepositoryNotFoundError:
        raise HubError(f"No repo '{repo_id}' on the Hub (or it is private and HF_TOKEN cannot "
                       "see it).", code="repo_not_found", status_code=404) from None
    except RevisionNotFoundError:
        raise HubError(f"'{repo_id}' has no such revision.", code="revision_not_found",
                       status_code=404) from None
    # huggingface_hub 2 sends its requests through httpx2.
    except (httpx2.TransportError, ConnectionError) as exc:
        raise HubError(f"The Hugging Face Hub at {settings.HF_ENDPOINT} is unreachable ({exc}).",
                       code="hub_unreachable", status_code=503) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 502
        raise HubError(f"The Hub answered {status} for '{repo_id}'.", code="hub_error",
                       status_code=503 if status >= 500 else 502) from None


def repo_metadata(repo_id: str, *, files_only: bool = False) -> RepoMetadata:
    """The repo's files with sizes and hashes; unless `files_only`, also its config.json and
    parameter counts (which read every shard's header)."""
    repo_id = check_repo_id(repo_id)
    api = hub_api()
    config: dict[str, Any] = {}
    parameters: dict[str, int] = {}
    with hub_errors(repo_id):
        info = api.model_info(repo_id, files_metadata=True)
        if info.sha is not None and not COMMIT_HASH.fullmatch(info.sha):
            # huggingface_hub would refuse it later, half-way through (a 500).
            raise HubError(f"The Hub at {settings.HF_ENDPOINT} answered a malformed commit hash "
                           f"for '{repo_id}'.", code="hub_bad_answer", status_code=502)
        files = [HubFile(s.rfilename, s.size or 0, s.lfs.sha256 if s.lfs else None)
                 for s in info.siblings or []]
        if not files_only:
            config = _config(api, repo_id, info.sha or "main", files)
            with suppress(NotASafetensorsRepoError, SafetensorsParsingError):
                counts = api.get_safetensors_metadata(repo_id).parameter_count
                parameters = {dtype: count for dtype, count in counts.items()}
    return RepoMetadata(repo_id=repo_id, sha=info.sha or "", gated=bool(info.gated), files=files,
                        config=config, parameters_by_dtype=parameters)


def _config(api: HfApi, repo_id: str, revision: str, files: list[HubFile]) -> dict[str, Any]:
    if not any(f.path == "config.json" for f in files):
        return {}
    path = api.hf_hub_download(repo_id, "config.json", revision=revision,
                               cache_dir=settings.VAR_DIR / "hf-cache")
    with open(path) as handle:
        loaded = json.load(handle)
    return loaded if isinstance(loaded, dict) else {}
