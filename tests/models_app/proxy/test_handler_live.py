"""The proxy's API-key requests through uvicorn, served without the middleware stack
(models_app/proxy/handler.py): they still carry the security headers, a refusal is still
audited, a Host the panel does not answer to is still a 400; browser sessions still go through
the stack (CSRF)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from cluster_app.models import ApiToken, AuditEntry
from tests.arthur_panel.test_headers import HEADERS
from tests.cluster_app.access.test_websockets_live import session_cookie

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
CHAT = {"model": "llama-3.2-1b", "max_tokens": 5, "stream": True,
        "messages": [{"role": "user", "content": "Hi"}]}


def chat(live_stack, headers: dict[str, str], **request: object) -> httpx.Response:
    return httpx.post(f"{live_stack.base_url}/v1/chat/completions", timeout=30,
                      headers=headers, **({"json": CHAT} | request))


def assert_secured(response: httpx.Response) -> None:
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_keys_stream_and_its_errors_carry_the_security_headers(live_stack, alice_token,
                                                                 loaded_llama):
    key = {"Authorization": f"Bearer {alice_token}"}
    answered = chat(live_stack, key)
    assert answered.status_code == 200 and answered.text.rstrip().endswith("data: [DONE]")
    assert_secured(answered)
    broken = chat(live_stack, {**key, "Content-Type": "application/json"}, content="{")
    assert broken.status_code == 400
    assert_secured(broken)
    anthropic_key = chat(live_stack, {"x-api-key": "arthur_wrong"})
    assert anthropic_key.status_code == 401
    assert_secured(anthropic_key)


def test_a_key_refused_by_the_proxy_is_in_the_audit_log(live_stack, alice, guide_models):
    token, secret = ApiToken.issue(user=alice, name="reader", scopes=["read"])
    refused = chat(live_stack, {"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "scope_denied"
    entry = AuditEntry.objects.get(action="v1-chat-completions")
    assert (entry.outcome, entry.token_id, entry.target) == (
        "refused", token.pk, "/v1/chat/completions")


def test_a_host_the_panel_does_not_answer_to_is_refused(live_stack, alice_token):
    refused = chat(live_stack, {"Authorization": f"Bearer {alice_token}", "Host": "evil.example"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_request"
    assert_secured(refused)


def test_a_browser_session_still_needs_its_csrf_token(live_stack, alice, guide_models):
    cookie = session_cookie(alice)
    refused = chat(live_stack, {"Cookie": cookie})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    csrf = secrets.token_hex(16)
    checked = chat(live_stack, {"Cookie": f"{cookie}; csrftoken={csrf}", "X-CSRFToken": csrf,
                                "Origin": live_stack.base_url})
    assert checked.status_code != 403, checked.text
