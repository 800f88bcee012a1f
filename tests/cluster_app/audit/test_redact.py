"""What an audit entry keeps of an action's parameters: secrets out, the rest as it was."""

from __future__ import annotations

import pytest

from cluster_app.audit.redact import REDACTED, is_secret_key, redact, redact_text


@pytest.mark.parametrize("name", ["token", "hf_token", "HF_TOKEN", "password", "password1",
                                  "new-password", "client_secret", "Authorization", "api_key",
                                  "key", "passwd"])
def test_a_key_naming_a_secret_is_secret(name):
    assert is_secret_key(name)


@pytest.mark.parametrize("name", ["max_tokens", "context_tokens", "node", "monkeys", "count",
                                  "keyboard", "repo_id", "passwords_changed"])
def test_a_key_that_only_contains_the_letters_is_not(name):
    assert not is_secret_key(name)


def test_values_under_secret_keys_go_at_any_depth():
    params = {"node": "alpha", "hf_token": "anything", "nested": {"password": 123},
              "items": [{"Authorization": "Bearer x", "count": 2}]}
    assert redact(params) == {"node": "alpha", "hf_token": REDACTED,
                              "nested": {"password": REDACTED},
                              "items": [{"Authorization": REDACTED, "count": 2}]}


def test_token_like_values_and_given_secrets_go_wherever_they_are():
    key, hub = "arthur_" + "AbCdEf012345-_xyz" * 2 + "AbCdEf012", "hf_" + "abcdefghijKLMN" * 3
    text = f"Bearer {key} and {hub} in a note"
    assert redact_text(text) == f"Bearer {REDACTED} and {REDACTED} in a note"
    assert redact({"note": text, "list": [hub, "redis pw s3cret-value"]},
                  secrets=["s3cret-value"]) == {
        "note": f"Bearer {REDACTED} and {REDACTED} in a note",
        "list": [REDACTED, f"redis pw {REDACTED}"]}


def test_ordinary_values_are_kept_as_they_are():
    params = {"model": "mlx-community/Llama-3.2-1B-Instruct-4bit", "count": 5, "quick": False,
              "ratio": 0.5, "none": None, "hint": "arthur_ab"}  # a six-letter hint is no token
    assert redact(params) == params


def test_the_input_is_not_changed():
    params = {"token": "x", "inner": {"password": "y"}}
    redact(params)
    assert params == {"token": "x", "inner": {"password": "y"}}
