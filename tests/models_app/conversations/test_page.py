"""The Playground page opens a conversation by its address, its owner's only."""

from __future__ import annotations

import pytest

from models_app.conversations.services import conversation_create

pytestmark = pytest.mark.django_db


def test_the_page_opens_ones_own_conversation_and_no_one_elses(client, alice, bob):
    conversation = conversation_create(owner=alice, title="Sky")
    client.force_login(alice)
    page = client.get(f"/playground/c/{conversation.pk}/")
    assert page.status_code == 200
    assert f'data-conversation="{conversation.pk}"' in page.content.decode()
    assert 'data-conversation=""' in client.get("/playground/").content.decode()
    client.force_login(bob)
    assert client.get(f"/playground/c/{conversation.pk}/").status_code == 404
