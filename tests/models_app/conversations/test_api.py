"""`/api/v1/conversations/` and `/api/v1/presets/`: ownership, the tree, validation errors as
JSON, search, export, presets, and what an API key's scopes allow."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from cluster_app.models import ApiToken
from models_app.models import Conversation

pytestmark = pytest.mark.django_db
URL = "/api/v1/conversations/"


@pytest.fixture
def client_of():
    def make(user):
        client = APIClient()
        client.force_login(user)
        return client
    return make


def post_message(client, conversation_id, **fields):
    body = {"parent": None, "role": "user", "content": "Hi", **fields}
    return client.post(f"{URL}{conversation_id}/messages/", body, format="json")


@pytest.fixture
def chat(client_of, bob):
    """Bob, a viewer, with a conversation: question, answer, question, answer."""
    client = client_of(bob)
    conversation = client.post(URL, {"model": "llama-3.2-1b", "system_prompt": "Be brief.",
                                      "parameters": {"temperature": 0.2}}, format="json").json()
    ids, parent = [], None
    for i, role in enumerate(["user", "assistant", "user", "assistant"]):
        message = post_message(client, conversation["id"], parent=parent, role=role,
                               content=f"turn {i} about the sky", model="llama-3.2-1b",
                               completion_tokens=5, tokens_per_second=50.0).json()
        ids.append(message["id"])
        parent = message["id"]
    return client, conversation["id"], ids


def test_a_conversation_keeps_its_tree_and_thread(chat):
    client, cid, ids = chat
    body = client.get(f"{URL}{cid}/").json()
    assert body["thread"] == ids and body["current_leaf"] == ids[-1]
    assert body["title"] == "turn 0 about the sky"  # from the first question
    assert body["parameters"] == {"temperature": 0.2, "max_tokens": None}
    assert body["system_prompt"] == "Be brief."

    # Edit the second question: a sibling of it, answered; the old branch stays.
    edited = post_message(client, cid, parent=ids[1], content="edited").json()
    answer = post_message(client, cid, parent=edited["id"], role="assistant", content="new",
                          model="llama-3.1-8b").json()
    body = client.get(f"{URL}{cid}/").json()
    assert body["thread"] == [ids[0], ids[1], edited["id"], answer["id"]]
    assert len(body["messages"]) == 6
    # Back to the old branch.
    body = client.patch(f"{URL}{cid}/", {"current_leaf": ids[3]}, format="json").json()
    assert body["thread"] == ids


def test_a_compared_answer_not_picked_leaves_the_thread_alone(chat):
    client, cid, ids = chat
    other = post_message(client, cid, parent=ids[2], role="assistant", content="other",
                         batch="b1", current=False).json()
    body = client.get(f"{URL}{cid}/").json()
    assert body["thread"] == ids and other["batch"] == "b1"


def test_another_users_conversation_is_not_found(chat, api_client):
    _, cid, ids = chat
    for response in (api_client.get(f"{URL}{cid}/"), api_client.patch(f"{URL}{cid}/", {}),
                     api_client.delete(f"{URL}{cid}/"), post_message(api_client, cid),
                     api_client.get(f"{URL}{cid}/export/")):
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "not_found"
    assert api_client.get(URL).json()["count"] == 0
    assert Conversation.objects.filter(pk=cid).exists()


@pytest.mark.parametrize(("fields", "said"), [
    ({"role": "assistant"}, "invalid_parent"),         # an answer to nothing
    ({"role": "system"}, "role: "),
    ({"content": "   "}, "blank"),
    ({"parent": 999999}, "invalid_message"),
    ({"content": "x" * 2_000_001}, "content: "),
    ({"status": "lost"}, "status: "),
    ({"tokens_per_second": -1}, "tokens_per_second: "),
])
def test_bad_messages_are_json_errors(chat, fields, said):
    client, cid, _ = chat
    response = post_message(client, cid, **fields)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == said or error["message"].startswith(said), error


def test_roles_alternate_and_a_parent_must_be_in_the_conversation(chat, client_of, bob):
    client, cid, ids = chat
    under_question = post_message(client, cid, parent=ids[0], role="user")
    assert under_question.json()["error"]["code"] == "invalid_parent"
    answer_under_answer = post_message(client, cid, parent=ids[1], role="assistant")
    assert answer_under_answer.json()["error"]["code"] == "invalid_parent"
    other = client.post(URL, {}, format="json").json()["id"]
    response = post_message(client, other, parent=ids[1])
    assert response.status_code == 400 and "not in this conversation" in (
        response.json()["error"]["message"])
    response = client.patch(f"{URL}{other}/", {"current_leaf": ids[0]}, format="json")
    assert response.json()["error"]["code"] == "invalid_message"


def test_rename_pin_and_settings(chat):
    client, cid, _ = chat
    body = client.patch(f"{URL}{cid}/", {"title": "Sky talk", "pinned": True, "model": "m2",
                                         "parameters": {"max_tokens": 99}}, format="json").json()
    assert (body["title"], body["pinned"], body["model"]) == ("Sky talk", True, "m2")
    assert body["parameters"] == {"temperature": None, "max_tokens": 99}
    assert client.patch(f"{URL}{cid}/", {"title": ""}, format="json").json()["title"] == (
        "turn 0 about the sky")  # back to the automatic title
    bad = client.patch(f"{URL}{cid}/", {"parameters": {"temperature": 3}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("parameters")


def test_the_list_is_pinned_first_newest_first_and_searchable(chat):
    client, cid, ids = chat
    older = client.post(URL, {"title": "Pinned one"}, format="json").json()["id"]
    client.patch(f"{URL}{older}/", {"pinned": True}, format="json")
    newest = client.post(URL, {"title": "Newest"}, format="json").json()["id"]
    listed = client.get(URL).json()
    assert [c["id"] for c in listed["results"]] == [older, newest, cid]
    assert listed["count"] == 3
    assert [c["id"] for c in client.get(f"{URL}?q=SKY").json()["results"]] == [cid]  # messages
    assert [c["id"] for c in client.get(f"{URL}?q=pinned").json()["results"]] == [older]
    assert client.get(f"{URL}?page_size=1&page=2").json()["results"][0]["id"] == newest
    assert client.get(f"{URL}?page=99").json()["error"]["code"] == "invalid_page"


def test_export_as_markdown_and_json_downloads(chat):
    client, cid, ids = chat
    markdown = client.get(f"{URL}{cid}/export/?format=md")
    assert markdown["Content-Type"].startswith("text/markdown")
    assert markdown["Content-Disposition"] == (
        f'attachment; filename="conversation-{cid}-turn-0-about-the-sky.md"')
    text = markdown.content.decode()
    assert text.startswith("# turn 0 about the sky\n\n## System\n\nBe brief.")
    assert text.count("## User") == 2 and "## Assistant (llama-3.2-1b · 5 tokens" in text
    exported = client.get(f"{URL}{cid}/export/?format=json")
    assert exported["Content-Disposition"].endswith('.json"')
    body = json.loads(exported.content)
    assert [m["id"] for m in body["thread_messages"]] == ids == body["thread"]
    bad = client.get(f"{URL}{cid}/export/?format=pdf")
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_format")


def test_delete_takes_the_messages_with_it(chat):
    client, cid, _ = chat
    assert client.delete(f"{URL}{cid}/").status_code == 204
    assert client.get(f"{URL}{cid}/").status_code == 404


def test_presets_seeded_and_own(client_of, bob, alice):
    client = client_of(bob)
    names = [p["name"] for p in client.get("/api/v1/presets/").json()]
    assert names[:3] == ["Code reviewer", "Concise", "Helpful assistant"]
    made = client.post("/api/v1/presets/", {"name": "Pirate", "prompt": "Talk like a pirate."},
                       format="json").json()
    assert made["mine"] is True
    assert [p["name"] for p in client.get("/api/v1/presets/").json()][-1] == "Pirate"
    assert "Pirate" not in [p["name"] for p in client_of(alice).get("/api/v1/presets/").json()]
    seeded = client.get("/api/v1/presets/").json()[0]
    assert client.delete(f"/api/v1/presets/{seeded['id']}/").status_code == 404
    assert client_of(alice).delete(f"/api/v1/presets/{made['id']}/").status_code == 404
    assert client.delete(f"/api/v1/presets/{made['id']}/").status_code == 204
    bad = client.post("/api/v1/presets/", {"name": ""}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("name")


@pytest.mark.parametrize(("scopes", "read", "write"), [
    (["chat"], 403, 403), (["read"], 200, 403), (["read", "operate"], 200, 201)])
def test_a_key_reads_with_read_and_writes_with_operate(operator, scopes, read, write):
    client = APIClient()
    secret = ApiToken.issue(user=operator, name="script", scopes=scopes)[1]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get(URL).status_code == read
    response = client.post(URL, {}, format="json")
    assert response.status_code == write
    if write == 403:
        assert response.json()["error"]["code"] == "scope_denied"
