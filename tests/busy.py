"""Traffic that keeps the database busy, and what it broke, counted.

Chat streams back to back through the proxy (every one leaves a usage record), downloads and
their deletes as jobs through the API, exo-like log lines for the log follower, all at once;
then the errors in every process's log and the usage records that went missing. Used by
tests/arthur_panel/test_database_busy.py (seconds, SQLite), bench/db_stress.py (minutes,
SQLite and PostgreSQL) and bench/chaos.py (its client, with faults injected).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from simulators.exo.logs import SOURCES, format_line

# What SQLite says when a writer gave up waiting for the lock (its busy timeout ran out, or a
# read transaction could not become a write one), and what PostgreSQL says when it aborts a
# transaction for the sake of another.
LOCKED = ("database is locked", "database table is locked")
POSTGRES_CONFLICTS = ("deadlock detected", "could not serialize access",
                      "canceling statement due to lock timeout", "could not obtain lock")
TRACEBACK = "Traceback (most recent call last)"
# Refusals the proxy leaves a usage record for: those of exo (or of exo being away), made after
# the request was accepted. Those before it (limits, login, an unknown model) leave none.
RECORDED_REFUSALS = ("exo_unavailable", "exo_error", "model_not_loaded")
# The codes of a bug's answer (arthur_panel/errors.py, a job's incident).
SERVER_ERROR_CODES = ("server_error", "internal")
FINAL = ("succeeded", "failed", "cancelled")
PROBLEMS_KEPT = 30


@dataclass
class Tally:
    """What the clients saw, counted as they go (one event loop: no lock needed)."""

    chats: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # "<what> <status>" of API calls
    jobs: Counter[str] = field(default_factory=Counter)  # "<what> <final state>"
    server_errors: list[str] = field(default_factory=list)
    unavailable: Counter[str] = field(default_factory=Counter)  # "<what> <status> <code>"
    problems: list[str] = field(default_factory=list)
    log_lines: int = 0

    def note(self, problem: str) -> None:
        """Keep `problem` (the first few), with the time of day, to find it in the logs."""
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(f"{datetime.now():%H:%M:%S} {problem}")

    def answer(self, what: str, response: httpx.Response) -> bool:
        """Count an API answer (see `five_hundred`). Returns whether it was a success."""
        self.answers[f"{what} {response.status_code}"] += 1
        if not self.five_hundred(what, response) and response.status_code >= 400:
            self.note(f"{what}: {response.status_code} {response.text[:300]}")
        return response.status_code < 400

    def five_hundred(self, what: str, response: httpx.Response) -> bool:
        """Count a 5xx answer: a server error (a 500, an answer without the error shape, or
        an internal error's), or a refusal for something away (exo, at 502 or 503, with its
        code). Returns whether it was a 5xx."""
        if response.status_code < 500:
            return False
        code = error_code(response)
        if response.status_code == 500 or code in ("", *SERVER_ERROR_CODES):
            self.server_errors.append(f"{what}: {response.status_code} {response.text[:300]}")
        else:
            self.unavailable[f"{what} {response.status_code} {code}"] += 1
        return True

    @property
    def usage_expected(self) -> int:
        """Chats the proxy accepted, each of which must have left a usage record: those it
        answered to the end (or broke off with a reason), those the client lost mid-stream,
        and those exo refused."""
        return sum(count for what, count in self.chats.items() if needs_record(what))


def needs_record(outcome: str) -> bool:
    """Whether a chat that ended so (`chat_once`'s outcome) must have left a usage record."""
    return outcome in ("ok", "broken", "cut") or outcome.split(" ")[-1] in RECORDED_REFUSALS


def error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def is_failure_frame(line: str) -> bool:
    """Whether an SSE `data:` line is a failure (exo's `{"error": ...}`, or the panel's frame
    for a stream exo broke off) rather than part of the answer."""
    try:
        event = json.loads(line[5:])
    except ValueError:
        return False
    return isinstance(event, dict) and "error" in event


async def chat_once(client: httpx.AsyncClient, body: dict[str, Any], tally: Tally) -> str:
    """One streamed chat completion read to its end; counted in `tally.chats` as `ok`,
    `broken` (a failure frame, or no `[DONE]`), `cut` (the connection lost mid-answer),
    `unreachable` (no answer at all) or `refused <status> <code>`. Returns that."""
    answered = False
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            answered = True
            if response.status_code != 200:
                await response.aread()
                outcome = f"refused {response.status_code} {error_code(response)}"
                tally.five_hundred("chat", response)
            else:
                last, failure = "", ""
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        last = line
                        failure = failure or (line if is_failure_frame(line) else "")
                outcome = "ok" if last == "data: [DONE]" and not failure else "broken"
                if outcome == "broken":
                    tally.note(f"chat broken: {(failure or last)[:300]}")
    except httpx.HTTPError as exc:
        outcome = "cut" if answered else "unreachable"
        tally.note(f"chat {outcome}: {type(exc).__name__} {exc}")
    tally.chats[outcome] += 1
    return outcome


async def chat_until(client: httpx.AsyncClient, body: dict[str, Any], tally: Tally,
                     until: float) -> None:
    """Chats back to back until `until` (monotonic); a pause after one that got no answer."""
    while time.monotonic() < until:
        if await chat_once(client, body, tally) in ("unreachable", "cut"):
            await asyncio.sleep(0.5)


async def job_end(client: httpx.AsyncClient, job_id: int, tally: Tally,
                  timeout: float) -> dict[str, Any] | None:
    """The job once it is final (polled), or None when it is not final after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = await client.get(f"/api/v1/jobs/{job_id}/")
        except httpx.HTTPError:
            await asyncio.sleep(1)
            continue
        if not tally.answer("job", response):
            await asyncio.sleep(1)
            continue
        job: dict[str, Any] = response.json()
        if job["state"] in FINAL:
            return job
        await asyncio.sleep(0.25)
    return None


async def run_job(client: httpx.AsyncClient, what: str, method: str, path: str,
                  body: dict[str, Any], tally: Tally, timeout: float) -> dict[str, Any] | None:
    """Start a job through the API and wait for its end; counted in `tally.jobs` as
    `<what> <final state>` (`<what> unfinished` when it did not end in time). Returns the
    final job, or None when it could not be started or did not end."""
    try:
        response = await client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        tally.note(f"{what}: {type(exc).__name__} {exc}")
        return None
    if not tally.answer(what, response):
        return None
    started = response.json()
    job = await job_end(client, (started["jobs"][0] if "jobs" in started else started)["id"],
                        tally, timeout)
    state = job["state"] if job else "unfinished"
    tally.jobs[f"{what} {state}"] += 1
    if job is None or state != "succeeded":
        tally.note(f"{what} {state}: {(job or started).get('error') or ''}"[:300])
    return job


async def download_until(client: httpx.AsyncClient, slug: str, node: str, tally: Tally,
                         until: float, timeout: float = 120.0) -> None:
    """Download `slug` to `node` and delete it again, as jobs, until `until`."""
    path = f"/api/v1/models/{slug}/download/"
    while time.monotonic() < until:
        for what, method in (("download", "POST"), ("delete", "DELETE")):
            if await run_job(client, what, method, path, {"node": node}, tally, timeout) is None:
                await asyncio.sleep(1)
                break


async def write_logs_until(files: list[Path], tally: Tally, until: float,
                           per_second: float = 50.0) -> None:
    """Append exo-like lines to `files` (the ones the log follower follows) until `until`."""
    rng = random.Random(1)
    kinds = sorted(SOURCES)
    while time.monotonic() < until:
        for path in files:
            with path.open("a", encoding="utf-8") as handle:
                kind = rng.choice(kinds)
                handle.write(format_line(kind, f"{kind} line {tally.log_lines}") + "\n")
            tally.log_lines += 1
        await asyncio.sleep(len(files) / per_second)


def api_client(base_url: str, token: str, *, connections: int = 8,
               timeout: float = 60.0) -> httpx.AsyncClient:
    # Idle connections are dropped before the server's 5 s keep-alive ends (httpx's default
    # is the same 5 s): a request sent on one the server is closing gets no answer at all.
    return httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                             timeout=httpx.Timeout(timeout, connect=10.0),
                             limits=httpx.Limits(max_connections=connections,
                                                 keepalive_expiry=2.0))


async def keep_busy(*, base_url: str, chat_tokens: list[str], operator_token: str,
                    streams: int, chat: dict[str, Any], downloads: list[tuple[str, str]],
                    log_files: list[Path], seconds: float, tally: Tally,
                    job_timeout: float = 120.0) -> None:
    """`streams` chats at once back to back (the n-th with the n-th of `chat_tokens`, round
    the list), each of `downloads` (slug, node) downloaded and deleted in turn (an operator's
    jobs, each given `job_timeout` s to end), and log lines written, for `seconds`."""
    until = time.monotonic() + seconds
    clients = [api_client(base_url, token, connections=streams) for token in chat_tokens]
    operator = api_client(base_url, operator_token, connections=2 * len(downloads))
    try:
        await asyncio.gather(
            *(chat_until(clients[n % len(clients)], chat, tally, until) for n in range(streams)),
            *(download_until(operator, slug, node, tally, until, job_timeout)
              for slug, node in downloads),
            write_logs_until(log_files, tally, until))
    finally:
        for client in [*clients, operator]:
            await client.aclose()


def log_sizes(folders: list[Path]) -> dict[Path, int]:
    """The size of every `*.log` under `folders` now: where to start reading them."""
    return {path: path.stat().st_size for folder in folders for path in folder.rglob("*.log")}


def log_errors(folders: list[Path], since: dict[Path, int] | None = None
               ) -> tuple[Counter[str], list[str]]:
    """Lock and conflict errors and tracebacks in every `*.log` under `folders`, written after
    `since` (sizes from `log_sizes`; files not in it are read whole). Returns the count per
    pattern and the first matching lines, each with its file's name."""
    counts: Counter[str] = Counter()
    lines: list[str] = []
    for folder in folders:
        for path in sorted(folder.rglob("*.log")):
            with path.open("rb") as handle:
                handle.seek((since or {}).get(path, 0))
                for raw in handle:
                    line = raw.decode(errors="replace").rstrip()
                    found = [p for p in (*LOCKED, *POSTGRES_CONFLICTS, TRACEBACK) if p in line]
                    counts.update(found)
                    if found and len(lines) < PROBLEMS_KEPT:
                        lines.append(f"{path.name}: {line[:300]}")
    return counts, lines


def wait_for_rows(count_rows: Any, expected: int, timeout: float = 30.0) -> int:
    """The usage records once there are `expected` (written as each stream ends), or as many
    as there are after `timeout` s."""
    deadline = time.monotonic() + timeout
    while (rows := int(count_rows())) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return rows
