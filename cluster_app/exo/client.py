"""The one way the panel talks to exo: httpx with timeouts, and retries with backoff on
connection errors only (a request exo received is never sent twice)."""

from __future__ import annotations

import functools
import json
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from django.conf import settings

from arthur_panel.exceptions import DomainError


class ExoUnavailable(DomainError):
    status_code = 503
    code = "exo_unavailable"


class ExoError(DomainError):
    """exo answered with an error; `message` is exo's own text."""

    status_code = 502
    code = "exo_error"

    def __init__(self, message: str, *, exo_status: int) -> None:
        super().__init__(message)
        self.exo_status = exo_status


RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)
# exo reads a card from the Hub before it answers POST /models/add: more than a state read.
ADD_MODEL_TIMEOUT = 60.0


def path(*segments: str) -> str:
    """A path on exo from these segments, each quoted whole: an id can never add a segment
    or climb out of its own (callers validate ids too; this holds if one forgets)."""
    for segment in segments:
        if segment in ("", ".", ".."):
            raise DomainError(f"{segment!r} cannot be part of a path on exo.", code="invalid_id")
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def error_message(response: httpx.Response) -> str:
    """exo's error text from either of its shapes, or the raw body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict) and body["error"].get("message"):
            return str(body["error"]["message"])
        if isinstance(body.get("detail"), list):  # FastAPI validation errors
            return "; ".join(str(item.get("msg", item)) for item in body["detail"])
        if isinstance(body.get("detail"), str):
            return body["detail"]
    return str(body)[:300]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one TLS context of every client of exo's: loading the CA bundle takes about 20 ms of
    CPU, which a client made for each poll, job step or request would spend again, though the
    link to exo is usually plain HTTP. Made at the first client, not at every process's start."""
    return httpx.create_ssl_context()


class ExoClient:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or settings.EXO_API_URL).rstrip("/")
        self.retries = settings.EXO_RETRIES if retries is None else retries
        self.backoff = backoff
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=settings.EXO_TIMEOUT if timeout is None else timeout,
            verify=tls_context(),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise ExoError(error_message(response), exo_status=response.status_code)
        # orjson: at 32 nodes /state is about 700 KB, which the json module reads in twice
        # the time (the cluster poll reads it every second or two).
        return orjson.loads(response.content)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(self.retries + 1):
            try:
                return self._http.request(method, path, **kwargs)
            except RETRYABLE as exc:
                if attempt == self.retries:
                    raise ExoUnavailable(f"exo at {self.base_url} is not answering ({exc})."
                                         ) from exc
                self._sleep(self.backoff * 2**attempt)
            except httpx.TimeoutException as exc:
                raise ExoUnavailable(f"exo at {self.base_url} timed out ({path}).") from exc
            except httpx.HTTPError as exc:
                raise ExoUnavailable(f"exo at {self.base_url} failed: {exc}.") from exc
        raise AssertionError("unreachable")

    def state(self) -> dict[str, Any]:
        return self.request("GET", "/state")

    def models(self) -> list[dict[str, Any]]:
        return self.request("GET", "/models").get("data", [])

    def previews(self, model_id: str) -> list[dict[str, Any]]:
        return self.request("GET", "/instance/previews", params={"model_id": model_id}).get(
            "previews", [])

    def placement(self, *, model_id: str, sharding: str, instance_meta: str,
                  min_nodes: int) -> dict[str, Any]:
        return self.request("GET", "/instance/placement", params={
            "model_id": model_id, "sharding": sharding, "instance_meta": instance_meta,
            "min_nodes": min_nodes})

    def create_instance(self, instance: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "/instance", json={"instance": instance})

    def delete_instance(self, instance_id: str) -> dict[str, Any]:
        return self.request("DELETE", path("instance", instance_id))

    def add_model(self, model_id: str) -> dict[str, Any]:
        """exo's `POST /models/add`: exo reads the model's card from the Hub (its HF_ENDPOINT)
        and keeps it; ExoError 400 `Failed to fetch model: ...` when it cannot."""
        return self.request("POST", "/models/add", json={"model_id": model_id},
                            timeout=ADD_MODEL_TIMEOUT)

    def bench_chat(self, body: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        """exo's `POST /bench/chat/completions`: a chat answer, not streamed, with exo's
        `generation_stats` and the `power_usage` the cluster drew meanwhile."""
        return self.request("POST", "/bench/chat/completions", json=body, timeout=timeout)

    def delete_download(self, node_id: str, model_id: str) -> dict[str, Any]:
        """exo's `DELETE /download/{node_id}/{model_id}`: the node deletes its copy and exo's
        entry for it goes (exo takes the model id whole, slash and all)."""
        return self.request("DELETE", path("download", node_id, *model_id.split("/")))

    def await_instance(self, model_id: str, timeout_seconds: int) -> dict[str, Any] | None:
        """exo's `GET /instance/await` (main): its one message once an instance of the model
        exists (`{"type": "ready", "instance": ...}`) or at the timeout (`{"type": "timeout"}`).
        None where exo has no such route (1.0.71 reads the path as an instance id: 404)."""
        timeout = httpx.Timeout(self._http.timeout.connect, read=timeout_seconds + 15.0)
        try:
            with self._http.stream("GET", "/instance/await", timeout=timeout, params={
                    "model_id": model_id, "timeout_seconds": timeout_seconds}) as response:
                if response.status_code == 404:
                    return None
                if response.status_code >= 400:
                    response.read()
                    raise ExoError(error_message(response), exo_status=response.status_code)
                for line in response.iter_lines():  # keep-alive comments until the message
                    if line.startswith("data:"):
                        message: dict[str, Any] = json.loads(line[5:])
                        return message
        except httpx.HTTPError as exc:
            raise ExoUnavailable(f"exo at {self.base_url} failed: {exc}.") from exc
        except ValueError as exc:
            raise ExoError(f"exo's /instance/await sent no JSON message ({exc})",
                           exo_status=200) from exc
        raise ExoError("exo closed /instance/await without a message", exo_status=200)
