"""The catalogue: the guide's seed, adding from the hub simulator with its errors, exo's import."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from arthur_panel.launcher import free_port
from models_app.catalogue.guide import GUIDE_MODELS
from models_app.models import LlmModel
from tests.stack import HUB_TOKEN

pytestmark = pytest.mark.django_db
GIB = 1024**3
MIB = 1024**2


def error_of(response):
    return response.json()["error"]


def test_the_guides_models_are_seeded_with_its_numbers():
    models = {m.slug: m for m in LlmModel.objects.all()}
    assert set(models) >= {"deepseek-v3-4bit", "llama-3.2-1b", "llama-3.1-70b", "llama-3.1-8b",
                           "deepseek-v3-8bit", "qwen2.5-coder-32b", "mistral-large",
                           "mixtral-8x22b"}
    deepseek = models["deepseek-v3-4bit"]
    assert deepseek.size_bytes == 405_874_409_472 and round(deepseek.size_bytes / GIB, 1) == 378.0
    # exo has no card for DeepSeek V3 itself: the guide's model is exo's V3.1 card.
    assert deepseek.repo_id == "mlx-community/DeepSeek-V3.1-4bit" and deepseek.tier == "essential"
    assert deepseek.exo_model_id == deepseek.repo_id
    assert deepseek.expected_tokens_per_second == 161.5 and deepseek.first_token_seconds == "2-3"
    assert deepseek.tensor_parallel == "required" and "coding" in deepseek.roles
    assert round(models["llama-3.2-1b"].size_bytes / GIB, 2) == 1.24
    assert models["llama-3.2-1b"].roles == ["testing"]
    seventy = models["llama-3.1-70b"]
    assert seventy.size_bytes == 38 * GIB and seventy.roles == ["fast fallback"]
    assert round(models["llama-3.1-8b"].size_bytes / GIB, 1) == 4.5
    eight = models["deepseek-v3-8bit"]
    assert eight.size_bytes == 712 * GIB and eight.tier == "not_recommended"
    for reason in ("Too close to the limit", "OOM risk", "Minimal quality gain", "Same speed"):
        assert reason in eight.tier_reason
    assert [models[s].size_bytes // GIB
            for s in ("qwen2.5-coder-32b", "mistral-large", "mixtral-8x22b")] == [18, 67, 87]


def test_list_filters_and_search(api_client):
    slugs = lambda query: [m["slug"] for m in api_client.get(f"/api/v1/models/{query}").json()]  # noqa: E731
    assert "deepseek-v3-8bit" in slugs("?tier=not_recommended")
    assert slugs("?role=testing") == ["llama-3.2-1b"]
    assert set(slugs("?q=deepseek")) == {"deepseek-v3-4bit", "deepseek-v3-8bit"}
    assert api_client.get("/api/v1/models/?tier=legendary").status_code == 400


def test_add_a_sharded_repo_from_the_hub(api_client, hub):
    response = api_client.post("/api/v1/models/", {"repo_id": "sim-org/wide-4bit"}, format="json")
    assert response.status_code == 201, response.json()
    model = response.json()
    assert model["slug"] == "wide-4bit" and model["source"] == "hub"
    assert model["n_layers"] == 2 and model["hidden_size"] == 256
    assert model["num_key_value_heads"] == 2 and model["head_dim"] == 64
    assert model["quantization_bits"] == 4 and model["context_length"] == 2048
    assert model["size_bytes"] > 1024 * 1024  # three shards of weights
    assert model["parameter_count"] and model["parameter_count"] > 0


def test_adding_twice_is_a_conflict(api_client, hub):
    response = api_client.post("/api/v1/models/", {"repo_id": "mlx-community/DeepSeek-V3.1-4bit"},
                               format="json")
    assert response.status_code == 409
    assert "already in the catalogue as 'deepseek-v3-4bit'" in error_of(response)["message"]


@pytest.mark.parametrize(("repo_id", "status", "code", "fragment"), [
    ("not a repo", 400, "invalid_repo_id", "is not a Hugging Face repo id"),
    ("lonely", 400, "invalid_repo_id", "expected 'org/name'"),
    ("sim-org/does-not-exist", 404, "repo_not_found", "No repo 'sim-org/does-not-exist'"),
    ("sim-gated/tiny-bf16", 403, "gated_repo", "is gated"),
])
def test_hub_errors_are_clear(api_client, hub, repo_id, status, code, fragment):
    response = api_client.post("/api/v1/models/", {"repo_id": repo_id}, format="json")
    assert response.status_code == status
    assert error_of(response)["code"] == code and fragment in error_of(response)["message"]


def test_a_gated_repo_adds_with_a_token(api_client, hub, settings):
    settings.HF_TOKEN = HUB_TOKEN
    response = api_client.post("/api/v1/models/", {"repo_id": "sim-gated/tiny-bf16"}, format="json")
    assert response.status_code == 201 and response.json()["gated"] is True


def test_unreachable_hub_is_a_503(api_client, settings):
    settings.HF_ENDPOINT = f"http://127.0.0.1:{free_port()}"
    response = api_client.post("/api/v1/models/", {"repo_id": "sim-org/tiny-4bit"}, format="json")
    assert response.status_code == 503
    assert error_of(response)["code"] == "hub_unreachable"
    assert "unreachable" in error_of(response)["message"]


def test_import_from_exos_catalogue_adds_only_new_models(api_client, exo_url):
    LlmModel.objects.filter(slug="llama-3.1-8b").delete()
    response = api_client.post("/api/v1/models/import-exo/")
    assert response.status_code == 200
    (added,) = response.json()  # everything else is in the catalogue already
    assert added["repo_id"] == "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"
    assert added["source"] == "exo" and added["size_bytes"] == round(4_637_851_648 / MIB) * MIB
    assert added["quantization_bits"] == 4 and added["slug"] == "meta-llama-3.1-8b-instruct-4bit"
    assert api_client.post("/api/v1/models/import-exo/").json() == []


def test_edit_and_delete(api_client):
    response = api_client.patch("/api/v1/models/mixtral-8x22b/",
                                {"roles": ["coding"], "notes": "x"}, format="json")
    assert response.status_code == 200 and response.json()["roles"] == ["coding"]
    bad = api_client.patch("/api/v1/models/mixtral-8x22b/", {"roles": ["juggling"]}, format="json")
    assert bad.status_code == 400 and "roles" in error_of(bad)["message"]
    renamed = api_client.patch("/api/v1/models/mixtral-8x22b/", {"slug": "x"}, format="json")
    assert renamed.json()["slug"] == "mixtral-8x22b"
    assert api_client.delete("/api/v1/models/mixtral-8x22b/").status_code == 204
    missing = api_client.get("/api/v1/models/mixtral-8x22b/")
    assert missing.status_code == 404 and "No model 'mixtral-8x22b'" in error_of(missing)["message"]


class HostileHub(BaseHTTPRequestHandler):
    """A hub whose model info names a commit hash that is not one."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"id": "evil/model", "modelId": "evil/model", "sha": "../../../../tmp/x",
                           "private": False, "gated": False,
                           "siblings": [{"rfilename": "config.json", "size": 2}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile_hub(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.HF_ENDPOINT = f"http://127.0.0.1:{server.server_address[1]}"
    yield
    server.shutdown()
    server.server_close()


def test_a_malformed_commit_hash_from_the_hub_is_a_502(api_client, hostile_hub):
    response = api_client.post("/api/v1/models/", {"repo_id": "evil/model"}, format="json")
    assert response.status_code == 502, response.content
    assert response.json()["error"]["code"] == "hub_bad_answer"
    assert not LlmModel.objects.filter(repo_id="evil/model").exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_points_the_guides_deepseek_at_exos_v3_1_cards():
    """A panel seeded before exo's cards were known had DeepSeek V3 ids exo does not serve."""
    before, after = ("models_app", "0004_seed_router_and_prices"), (
        "models_app", "0005_deepseek_v3_1_cards")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps.get_model("models_app", "LlmModel")
    for fields in GUIDE_MODELS:
        if fields["slug"] in ("deepseek-v3-4bit", "deepseek-v3-8bit"):
            v3 = str(fields["repo_id"]).replace("V3.1", "V3")
            old.objects.update_or_create(slug=fields["slug"], defaults={
                **fields, "repo_id": v3, "exo_model_id": v3, "source": "guide"})
    executor = MigrationExecutor(connection)
    executor.migrate([after])
    models = {m.slug: m for m in LlmModel.objects.filter(slug__startswith="deepseek")}
    # Back to the newest schema, which the tests after this one use.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("models_app"))
    assert (models["deepseek-v3-4bit"].repo_id, models["deepseek-v3-4bit"].exo_model_id) == (
        "mlx-community/DeepSeek-V3.1-4bit", "mlx-community/DeepSeek-V3.1-4bit")
    assert models["deepseek-v3-8bit"].exo_model_id == "mlx-community/DeepSeek-V3.1-8bit"
    assert models["deepseek-v3-4bit"].size_bytes == 405_874_409_472  # the guide's 378 GB


@pytest.fixture
def tiny(exo_built_in_cards):
    """A catalogue model exo has no card for (the hub simulator has its repo)."""
    return LlmModel.objects.create(slug="tiny", display_name="Tiny", repo_id="sim-org/tiny-4bit",
                                   size_bytes=10**6)


def test_a_model_exo_does_not_know_gets_its_card_added(api_client, tiny):
    assert api_client.get("/api/v1/models/tiny/exo-card/").json() == {
        "model_id": "sim-org/tiny-4bit", "known": False}
    added = api_client.post("/api/v1/models/tiny/exo-card/")
    assert added.status_code == 201 and added.json()["added"] is True
    again = api_client.post("/api/v1/models/tiny/exo-card/")
    assert again.status_code == 200 and again.json() == {
        "model_id": "sim-org/tiny-4bit", "known": True, "added": False}
    assert api_client.get("/api/v1/models/tiny/exo-card/").json()["known"] is True


def test_the_guides_models_exo_ships_a_card_for_are_known(api_client, exo_built_in_cards):
    known = {slug: api_client.get(f"/api/v1/models/{slug}/exo-card/").json()["known"]
             for slug in ("deepseek-v3-4bit", "llama-3.2-1b", "qwen2.5-coder-32b", "mixtral-8x22b")}
    assert known == {"deepseek-v3-4bit": True, "llama-3.2-1b": True, "qwen2.5-coder-32b": False,
                     "mixtral-8x22b": False}


def test_a_card_exo_cannot_read_is_a_502_with_exos_reason(api_client, exo_built_in_cards):
    LlmModel.objects.create(slug="absent", display_name="Absent", repo_id="sim-org/absent-4bit",
                            size_bytes=10**6)
    response = api_client.post("/api/v1/models/absent/exo-card/")
    assert response.status_code == 502 and error_of(response)["code"] == "exo_card_failed"
    assert error_of(response)["message"].startswith(
        "exo could not add a card for sim-org/absent-4bit: Failed to fetch model: ")


def test_exo_card_route_errors(api_client, settings):
    assert api_client.get("/api/v1/models/no-such-model/exo-card/").status_code == 404
    settings.EXO_API_URL = f"http://127.0.0.1:{free_port()}"
    response = api_client.post("/api/v1/models/llama-3.2-1b/exo-card/")
    assert response.status_code == 503 and error_of(response)["code"] == "exo_unavailable"
    assert api_client.get("/api/v1/models/llama-3.2-1b/exo-card/").status_code == 503
