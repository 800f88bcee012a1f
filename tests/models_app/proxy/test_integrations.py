"""The Integrations page, and scripts/llm_query.sh against the live stack: it answers, and a
hostile prompt reaches the model verbatim with nothing run by the shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "llm_query.sh"
# Quotes, a command substitution, backticks, a variable, a backslash and a newline: each of them
# broke the guide's script or ran something.
HOSTILE = "\"quoted\" it's $(touch pwned) `touch pwned2` ${HOME} back\\slash\nsecond line"


def echoed(prompt: str) -> str:
    """The start of the exo simulator's answer: it repeats the prompt's first eight words."""
    return "You asked: " + " ".join(prompt.split()[:8]) + " —"


def run_script(stack, token: str, *args: str, cwd: Path, model: str = "llama-3.2-1b",
               stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**stack.env, "ARTHUR_URL": stack.base_url, "ARTHUR_TOKEN": token,
           "ARTHUR_MODEL": model}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, cwd=cwd, input=stdin or "",
                          capture_output=True, text=True, timeout=30)


@pytest.mark.django_db
def test_the_page_shows_settings_for_this_panel(client, alice):
    client.force_login(alice)
    text = client.get("/integrations/").content.decode()
    assert "ANTHROPIC_BASE_URL=http://testserver/" in text
    # Every model variable Claude Code reads, so it never asks for a claude-* name of its own.
    for variable, slug in [("ANTHROPIC_MODEL", "deepseek-v3-4bit"),
                           ("ANTHROPIC_DEFAULT_OPUS_MODEL", "deepseek-v3-4bit"),
                           ("ANTHROPIC_DEFAULT_SONNET_MODEL", "deepseek-v3-4bit"),
                           ("ANTHROPIC_DEFAULT_HAIKU_MODEL", "llama-3.1-8b"),
                           ("ANTHROPIC_SMALL_FAST_MODEL", "llama-3.1-8b"),
                           ("CLAUDE_CODE_SUBAGENT_MODEL", "deepseek-v3-4bit")]:
        assert f"export {variable}={slug}\n" in text, variable
    assert '<td class="mono">claude-*haiku*</td><td>quick</td>' in text
    assert 'OpenAI(base_url="http://testserver/v1"' in text
    assert "<code>http://testserver/v1</code>" in text  # Open WebUI's connection URL
    assert "python manage.py issue_token alice" in text
    assert "set -euo pipefail" in text  # the script itself, to read before running it


@pytest.mark.django_db
def test_the_page_needs_a_login(client):
    assert client.get("/integrations/").status_code == 302


def live(test):  # type: ignore[no-untyped-def]
    """Marks a test that runs the script against the live stack."""
    return pytest.mark.stack(pytest.mark.django_db(transaction=True)(test))


@live
def test_llm_query_prints_the_answer(live_stack, alice_token, loaded_llama, tmp_path):
    done = run_script(live_stack, alice_token, "Why is the sky blue?", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(echoed("Why is the sky blue?"))
    assert "{" not in done.stdout  # the answer text only, not the JSON around it


@live
def test_a_hostile_prompt_is_sent_verbatim(live_stack, alice_token, loaded_llama, tmp_path):
    done = run_script(live_stack, alice_token, HOSTILE, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(echoed(HOSTILE))  # "$(touch pwned)" and "${HOME}" as typed
    assert list(tmp_path.iterdir()) == []  # neither touch ran


@live
def test_the_prompt_can_come_from_stdin(live_stack, alice_token, loaded_llama, tmp_path):
    done = run_script(live_stack, alice_token, cwd=tmp_path, stdin=HOSTILE)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(echoed(HOSTILE))
    assert list(tmp_path.iterdir()) == []


@live
def test_a_model_not_loaded_fails_with_the_panels_message(live_stack, alice_token, guide_models,
                                                          tmp_path):
    done = run_script(live_stack, alice_token, "Hi", cwd=tmp_path, model="deepseek-v3-4bit")
    assert done.returncode == 1 and done.stdout == ""
    assert "llm_query: Model deepseek-v3-4bit (mlx-community/DeepSeek-V3.1-4bit) is not loaded" \
        in done.stderr
