"""The database kept busy by everything at once, on the live stack: chat streams back to back
(each leaving its usage record), the cluster poll, downloads and deletes as jobs, and the log
follower. No process may fail a write for want of the lock ("database is locked": SQLite's
WAL, busy timeout and IMMEDIATE transactions are there for this), and no chat may lose its
usage record. `bench/db_stress.py` runs the same mix for minutes, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil

import pytest

from cluster_app.models import ApiToken
from models_app.catalogue.services import model_add_from_hub
from models_app.models import UsageRecord
from tests import busy
from tests.follower import running_follower

# The lock waits are SQLite's own; PostgreSQL's run is bench/db_stress.py's.
pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True),
              pytest.mark.sqlite_pass]
SECONDS = 12
JOB_SECONDS = 30  # for a download started near the end
# One stream each: the per-user limits (4 streams, 300 chats a minute) stay out of the way.
USERS = 16
DOWNLOADS = [("sim-org/tiny-4bit", "alpha"), ("sim-org/wide-4bit", "beta")]


@pytest.fixture
def chat_tokens(django_user_model) -> list[str]:
    return [ApiToken.issue(user=django_user_model.objects.create_user(f"busy{n}"), name="busy")[1]
            for n in range(USERS)]


def test_a_busy_database_locks_nothing_out_and_loses_no_usage_record(
        live_stack, loaded_llama, alice_token, chat_tokens, hub, nodes, exo_built_in_cards,
        tmp_path):
    shutil.rmtree(live_stack.models_dir, ignore_errors=True)
    slugs = {repo: model_add_from_hub(repo_id=repo).slug for repo, _ in DOWNLOADS}
    log_files = []
    for name in ("alpha", "beta"):
        log_files.append(tmp_path / f"{name}-exo.log")
        log_files[-1].touch()
        nodes[name].exo_log_files = [str(log_files[-1])]
        nodes[name].save(update_fields=["exo_log_files"])
    since = busy.log_sizes([live_stack.log_dir])
    tally = busy.Tally()
    chat = {"model": "llama-3.2-1b", "stream": True, "max_tokens": 16,
            "messages": [{"role": "user", "content": "Tell me about RDMA"}]}
    with running_follower(live_stack, tmp_path / "follower.log", "alpha", "beta"):
        asyncio.run(busy.keep_busy(
            base_url=live_stack.base_url, chat_tokens=chat_tokens, operator_token=alice_token,
            streams=USERS, chat=chat,
            downloads=[(slugs[repo], node) for repo, node in DOWNLOADS], log_files=log_files,
            seconds=SECONDS, tally=tally, job_timeout=JOB_SECONDS))
    rows = busy.wait_for_rows(
        UsageRecord.objects.filter(user__username__startswith="busy").count,
        tally.usage_expected)
    errors, lines = busy.log_errors([live_stack.log_dir, tmp_path], since)

    assert tally.chats["ok"] > USERS and tally.jobs["download succeeded"] >= len(DOWNLOADS), (
        tally)
    assert not any(errors[pattern] for pattern in busy.LOCKED), lines
    assert tally.server_errors == [] and not tally.unavailable
    assert rows == tally.usage_expected, (tally.chats, tally.problems)
    assert set(tally.chats) == {"ok"}, tally.problems
    assert {what.split()[-1] for what in tally.jobs} == {"succeeded"}, tally.problems
