"""Catalogue pages: list and filters, a model's page, adding from the Hub with visible errors."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from arthur_panel.launcher import free_port
from models_app.models import LlmModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, operator):
    """Alice, an operator: the catalogue's buttons are hers to use."""
    client.force_login(operator)
    return client


def slugs_on(response) -> set[str]:
    return {m.slug for m in LlmModel.objects.all()
            if f'data-slug="{m.slug}"' in response.content.decode()}


def test_catalogue_lists_the_guide_with_sizes(browser):
    page = browser.get("/models/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "DeepSeek V3 4-bit" in text and "378 GB" in text and "1.24 GB" in text
    assert len(slugs_on(page)) == LlmModel.objects.count()


def test_catalogue_filters(browser):
    assert slugs_on(browser.get("/models/?tier=not_recommended")) == {"deepseek-v3-8bit"}
    assert slugs_on(browser.get("/models/?role=instant")) == {"llama-3.1-8b"}
    assert slugs_on(browser.get("/models/?q=mixtral")) == {"mixtral-8x22b"}
    assert slugs_on(browser.get("/models/?downloaded=yes")) == set()  # no cluster poll yet
    empty = browser.get("/models/?q=nothing-like-this")
    assert b"No model matches these filters" in empty.content


@pytest.mark.parametrize("query", ["q=LLAMA", "q=mlx-community", "q=Meta-Llama", "tier=optional",
                                   "role=coding", "q=llama&role=instant", "q=prime"])
def test_the_page_and_the_api_filter_the_catalogue_alike(browser, api_client, query):
    api = {m["slug"] for m in api_client.get(f"/api/v1/models/?{query}").json()}
    assert slugs_on(browser.get(f"/models/?{query}")) == api


def test_the_fits_now_column_costs_the_same_queries_for_any_number_of_models(
        browser, django_assert_max_num_queries):
    browser.get("/models/")  # session and the like, read once
    with CaptureQueriesContext(connection) as few:
        browser.get("/models/")
    for number in range(20):
        LlmModel.objects.create(slug=f"extra-{number}", display_name=f"Extra {number}",
                                repo_id=f"org/extra-{number}", size_bytes=10**9, n_layers=16,
                                hidden_size=2048, num_attention_heads=16,
                                num_key_value_heads=8, head_dim=128)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = browser.get("/models/")
    assert "extra-19" in page.content.decode()


def test_model_page_explains_its_tier(browser):
    text = browser.get("/models/deepseek-v3-8bit/").content.decode()
    assert "Why it is not recommended" in text and "OOM risk" in text
    assert browser.get("/models/no-such-model/").status_code == 404


def test_add_page_shows_hub_errors_next_to_the_field(browser, hub):
    page = browser.post("/models/add/", {"repo_id": "not a repo"})
    assert page.status_code == 200 and b"is not a Hugging Face repo id" in page.content
    page = browser.post("/models/add/", {"repo_id": "sim-gated/tiny-bf16"})
    assert b"is gated" in page.content


def test_add_page_adds_and_goes_to_the_model(browser, hub):
    response = browser.post("/models/add/", {"repo_id": "sim-org/tiny-4bit"})
    assert response.status_code == 302 and response["Location"] == "/models/tiny-4bit/"
    assert b"Added tiny-4bit from the Hub" in browser.get(response["Location"]).content


def test_import_exo_reports_what_it_did(browser, exo_url):
    LlmModel.objects.filter(slug="llama-3.1-8b").delete()  # a card exo has
    response = browser.post("/models/import-exo/", follow=True)
    assert b"new model(s) from exo" in response.content
    again = browser.post("/models/import-exo/", follow=True)
    assert b"has nothing new" in again.content


def test_forms_need_the_csrf_token(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/models/add/", {"repo_id": "sim-org/tiny-4bit"}).status_code == 403


def test_catalogue_says_what_fits_now(browser, nodes):
    fitting = slugs_on(browser.get("/models/?fits=yes"))
    assert {"deepseek-v3-4bit", "llama-3.2-1b"} <= fitting
    assert slugs_on(browser.get("/models/?fits=no")) == {"deepseek-v3-8bit"}


def test_model_page_shows_its_placement(browser, nodes):
    text = browser.get("/models/deepseek-v3-4bit/").content.decode()
    assert "Will it fit now?" in text and "tensor-parallel slice" in text
    assert "ALPHA: 189 GB of weights" in text and "BETA: 189 GB of weights" in text


def noted(response) -> set[str]:
    """Slugs of the rows that say exo does not know the model."""
    rows = response.content.decode().split('data-slug="')[1:]
    return {row.split('"', 1)[0] for row in rows if "exo does not know this model yet" in row}


def test_the_catalogue_says_which_models_exo_does_not_know(browser, exo_built_in_cards):
    assert noted(browser.get("/models/")) >= {"qwen2.5-coder-32b", "mistral-large",
                                              "mixtral-8x22b"}
    assert not noted(browser.get("/models/")) & {"deepseek-v3-4bit", "llama-3.2-1b"}
    detail = browser.get("/models/mixtral-8x22b/").content.decode()
    assert "exo does not know this model yet" in detail and "Add it to exo" in detail
    assert "exo does not know" not in browser.get("/models/llama-3.2-1b/").content.decode()


def test_the_button_adds_the_card_and_goes_back(browser, exo_built_in_cards):
    LlmModel.objects.create(slug="tiny", display_name="Tiny", repo_id="sim-org/tiny-4bit",
                            size_bytes=10**6, n_layers=2)
    assert "tiny" in noted(browser.get("/models/"))
    response = browser.post("/models/tiny/exo-card/", {"next": "/models/?q=tiny"})
    assert response.status_code == 302 and response["Location"] == "/models/?q=tiny"
    page = browser.get(response["Location"])
    assert b"exo now knows Tiny (sim-org/tiny-4bit)" in page.content and not noted(page)


def test_the_button_shows_exos_refusal_and_never_leaves_the_site(browser, exo_built_in_cards):
    LlmModel.objects.create(slug="absent", display_name="Absent", repo_id="sim-org/absent-4bit",
                            size_bytes=10**6)
    response = browser.post("/models/absent/exo-card/", {"next": "https://elsewhere.example/"})
    assert response["Location"] == "/models/absent/"
    assert b"exo could not add a card for sim-org/absent-4bit" in browser.get(
        response["Location"]).content


def test_with_exo_down_the_pages_say_nothing_of_its_cards(browser, settings):
    settings.EXO_API_URL = f"http://127.0.0.1:{free_port()}"
    assert noted(browser.get("/models/")) == set()
