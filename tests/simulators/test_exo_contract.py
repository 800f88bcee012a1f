"""The exo simulator against exo's own JSON (tests/fixtures/exo_samples/, both versions): for the
same situation, every key path of exo's document is in the simulator's and nothing more (ids
and map keys aside). Where exo's source at the samples' commit writes a path a sample happens
not to show, the test says so and requires the path."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.exo.testing import RunningSim
from tests.simulators.key_paths import key_paths, shape, shape_difference, under

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "exo_samples"
VERSIONS = ("1.0.71", "main")
MAPS = (
    "instances", "runners", "downloads", "tasks", "lastSeen", "nodeIdentities", "nodeMemory",
    "nodeDisk", "nodeSystem", "nodeNetwork", "nodeThunderbolt", "nodeThunderboltBridge",
    "nodeRdmaCtl", "nodeBackends", "instanceLinks", "prefillServerPorts", "customModelCards",
    "topology.connections", "topology.connections.*", "runnerToShard", "nodeToRunner",
    "hostsByNode", "jacclCoordinators", "memory_delta_by_node", "files",
)
DEEPSEEK_8BIT = "mlx-community/DeepSeek-V3.1-8bit"
LLAMA_1B = "mlx-community/Llama-3.2-1B-Instruct-4bit"
LLAMA_8B = "mlx-community/Meta-Llama-3.1-8B-Instruct-4bit"
LLAMA_70B = "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit"
MIXTRAL = "mlx-community/Mixtral-8x22B-Instruct-v0.1-4bit"
MIXTRAL_CONFIG = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
                  "hidden_size": 6144, "num_hidden_layers": 56, "num_key_value_heads": 8,
                  "max_position_embeddings": 65536}
# exo's runner statuses that are bare tags (exo's shared/types/worker/runners.py); the samples
# show only Loading, Ready and Failed.
BARE_RUNNER_STATES = {f"runners.*.Runner{s}" for s in (
    "Idle", "Connecting", "Connected", "Loaded", "WarmingUp", "Running", "ShuttingDown")}


def sample(version: str, name: str) -> Any:
    return json.loads((SAMPLES / version / f"{name}.json").read_text())


def assert_same_shape(expected: Any, produced: Any, also: frozenset[str] = frozenset()) -> None:
    """Nothing missing, nothing extra but ``also`` (paths exo's source writes that the sample
    lacks), each of which must really be there."""
    missing, extra = shape_difference(expected, produced, MAPS)
    assert missing == set(), f"missing: {sorted(missing)}"
    assert extra == set(also), f"extra: {sorted(extra - set(also))}"


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sim(make_exo_sim: Callable[..., RunningSim], version: str) -> RunningSim:
    return make_exo_sim(exo_version=version)


def place(sim: RunningSim, model_id: str, sharding: str, meta: str, nodes: int
          ) -> dict[str, Any]:
    return sim.load(model_id, sharding, meta, nodes, wait=False)


def the_three_instances(sim: RunningSim) -> list[dict[str, Any]]:
    """The samples' cluster: Llama 70B over JACCL in tensors, Llama 1B over a ring in pipeline,
    Llama 8B on one node."""
    return [place(sim, LLAMA_70B, "Tensor", "MlxJaccl", 2),
            place(sim, LLAMA_1B, "Pipeline", "MlxRing", 2),
            place(sim, LLAMA_8B, "Pipeline", "MlxRing", 1)]


def runner_ids(instance: dict[str, Any]) -> list[str]:
    return list(next(iter(instance.values()))["shardAssignments"]["nodeToRunner"].values())


def add_mixtral(sim: RunningSim, shared: bool = True) -> None:
    """exo has no card for Mixtral 8x22B: one as POST /models/add makes it from the Hub."""
    sim.client.post("/_sim/cards", json={"model_id": MIXTRAL, "config": MIXTRAL_CONFIG,
                                         "total_size": 93_415_538_688, "shared": shared}
                    ).raise_for_status()


def ready_with_a_failure(sim: RunningSim) -> None:
    """Every instance ready, the one-node instance's runner dead and not yet re-created, a
    download failed on ALPHA and one under way on BETA, and a card not downloaded anywhere."""
    add_mixtral(sim, shared=False)
    sim.client.post("/_sim/rescan").raise_for_status()
    sim.client.post("/_sim/settings", json={"retry_backoff": 600}).raise_for_status()
    instances = the_three_instances(sim)
    sim.wait_for(lambda: all(sim.ready(instance) for instance in instances))
    (single,) = runner_ids(instances[2])
    sim.client.post(f"/_sim/runners/{single}/fail").raise_for_status()
    sim.client.post("/_sim/downloads/fail", json={"node": "ALPHA", "model_id": DEEPSEEK_8BIT}
                    ).raise_for_status()
    sim.client.post("/_sim/settings", json={"speed": 1e-6}).raise_for_status()
    sim.client.post("/download/start", json={
        "targetNodeId": sim.node_id("BETA"), "shardMetadata": sim.state(
            f"/downloads/{sim.node_id('BETA')}/1")["DownloadPending"]["shardMetadata"],
    }).raise_for_status()
    sim.wait_for(lambda: any("DownloadOngoing" in d for d in sim.state(
        f"/downloads/{sim.node_id('BETA')}")))


def test_idle_state(sim: RunningSim, version: str) -> None:
    assert_same_shape(sample(version, "state_idle"), sim.state())


def test_loading_state(sim: RunningSim, version: str) -> None:
    sim.client.post("/_sim/settings", json={"load_time": 6}).raise_for_status()
    the_three_instances(sim)
    sim.wait_for(lambda: len(runners := sim.state("/runners")) == 5 and all(
        "RunnerLoading" in status for status in runners.values()), timeout=10)
    assert_same_shape(sample(version, "state_loading"), sim.state())


def test_ready_state(sim: RunningSim, version: str) -> None:
    ready_with_a_failure(sim)
    assert_same_shape(sample(version, "state_ready"), sim.state())


def test_busy_state(sim: RunningSim, version: str) -> None:
    ready_with_a_failure(sim)
    with httpx.Client(base_url=sim.url, timeout=30) as client, client.stream(
            "POST", "/v1/chat/completions", json={
                "model": LLAMA_70B, "stream": True, "max_tokens": 4,
                "messages": [{"role": "user", "content": "hi"}]}) as response:
        lines = response.iter_lines()
        assert next(lines) == ": keep-alive"
        busy = sim.wait_for(lambda: (s := sim.state()) and any(
            "RunnerRunning" in r for r in s["runners"].values()) and s)
        # exo's runner reports RunnerRunning while it generates (exo worker/runner/runner.py,
        # handle_generation_tasks); the busy sample caught none mid-answer.
        assert_same_shape(sample(version, "state_busy"), busy,
                          also=frozenset({"runners.*.RunnerRunning"}))
        sim.client.post("/_sim/settings", json={"speed": 50}).raise_for_status()


def test_previews(sim: RunningSim, version: str) -> None:
    previews = sim.client.get("/instance/previews", params={"model_id": LLAMA_70B}).json()
    assert_same_shape(sample(version, "previews_70b"), previews)


def test_previews_of_a_model_without_tensor_support(sim: RunningSim, version: str) -> None:
    add_mixtral(sim)
    previews = sim.client.get("/instance/previews", params={"model_id": MIXTRAL}).json()
    assert_same_shape(sample(version, "previews_mixtral"), previews)


@pytest.mark.parametrize("name, model_id, sharding, meta", [
    ("ring", LLAMA_1B, "Pipeline", "MlxRing"),
    ("jaccl", LLAMA_70B, "Tensor", "MlxJaccl"),
])
def test_placement_and_create(sim: RunningSim, version: str, name: str, model_id: str,
                              sharding: str, meta: str) -> None:
    placed = sim.placement(model_id, sharding, meta, 2)
    assert_same_shape(sample(version, f"placement_{name}"), placed)
    created = sim.client.post("/instance", json={"instance": placed})
    assert created.status_code == 200
    assert_same_shape(sample(version, f"create_{name}"), created.json())


def test_delete_answer(sim: RunningSim) -> None:
    instance = sim.load(LLAMA_1B, wait=False)
    instance_id = next(iter(instance.values()))["instanceId"]
    answer = sim.client.delete(f"/instance/{instance_id}").json()
    # exo's DeleteInstanceResponse; no sample shows it.
    assert set(answer) == {"message", "command_id", "instance_id"}


@pytest.mark.parametrize("path, name", [("/models", "models"), ("/v1/models", "v1models")])
def test_model_lists(sim: RunningSim, version: str, path: str, name: str) -> None:
    assert_same_shape(sample(version, name), sim.client.get(path).json())


def test_error(sim: RunningSim, version: str) -> None:
    response = sim.client.post("/v1/chat/completions", json={
        "model": "mlx-community/nope", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 404
    assert response.json() == sample(version, "error_404")


CHAT = {"model": LLAMA_8B, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5}
NULLS_IN_ANSWERS = {
    "choices[].logprobs", "choices[].message.function_call", "choices[].message.name",
    "choices[].message.reasoning_content", "choices[].message.tool_call_id",
    "choices[].message.tool_calls", "service_tier",
}


def test_non_streaming_chat(sim: RunningSim, version: str) -> None:
    sim.load(LLAMA_8B)
    answer = sim.client.post("/v1/chat/completions", json=CHAT).json()
    if version == "1.0.71":
        assert_same_shape(sample(version, "chat_nonstream"), answer)
    else:
        # main's collect_chat_response dumps with exclude_none (exo api/adapters/
        # chat_completions.py at b5375f8); the main sample was written with its nulls.
        expected = key_paths(sample(version, "chat_nonstream")) - NULLS_IN_ANSWERS
        assert key_paths(answer) == expected


def stream_chunks(sim: RunningSim, **fields: Any) -> list[dict[str, Any]]:
    raw = sim.client.post("/v1/chat/completions", json={**CHAT, "stream": True, **fields}).text
    return [json.loads(block[6:]) for block in raw.split("\n\n") if block.startswith("data: {")]


# exo's streaming ChatCompletionResponse with a StreamingChoiceResponse, every field written.
CHUNK_PATHS = {
    "id", "object", "created", "model", "choices", "choices[]", "choices[].index",
    "choices[].delta", "choices[].delta.role", "choices[].delta.content",
    "choices[].delta.reasoning_content", "choices[].delta.name", "choices[].delta.tool_calls",
    "choices[].delta.tool_call_id", "choices[].delta.function_call", "choices[].logprobs",
    "choices[].finish_reason", "choices[].usage", "usage", "service_tier",
}
USAGE_PATHS = {"usage." + p for p in (
    "prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
    "prompt_tokens_details.cached_tokens", "prompt_tokens_details.audio_tokens",
    "completion_tokens_details", "completion_tokens_details.reasoning_tokens",
    "completion_tokens_details.audio_tokens",
    "completion_tokens_details.accepted_prediction_tokens",
    "completion_tokens_details.rejected_prediction_tokens")}
MAIN_CHUNK_PATHS = {"id", "object", "created", "model", "choices", "choices[]",
                    "choices[].index", "choices[].delta", "choices[].delta.role",
                    "choices[].delta.content"}


def test_stream_chunks_carry_the_nulls_of_their_version(sim: RunningSim, version: str) -> None:
    sim.load(LLAMA_8B)
    *chunks, last = stream_chunks(sim)
    if version == "1.0.71":
        assert all(key_paths(chunk) == CHUNK_PATHS for chunk in chunks)
        assert key_paths(last) == CHUNK_PATHS | USAGE_PATHS
        assert chunks[0]["usage"] is None and chunks[0]["choices"][0]["finish_reason"] is None
    else:
        assert all(key_paths(chunk) == MAIN_CHUNK_PATHS for chunk in chunks)
        assert key_paths(last) == MAIN_CHUNK_PATHS | {"choices[].finish_reason", "usage"} | (
            USAGE_PATHS)


def unexplained(version: str, state: dict[str, Any]) -> set[str]:
    """The state's paths that no state sample shows, except under maps every sample leaves
    empty (tasks, nodeBackends...)."""
    shapes = [shape(sample(version, f"state_{name}"), MAPS)
              for name in ("idle", "loading", "ready", "busy")]
    shown = set().union(*(s.paths for s in shapes))
    empty = set().union(*(s.empty_dicts | s.empty_lists for s in shapes))
    always_empty = {e for e in empty if not any(under(p, (e,)) for p in shown)}
    return {p for p in key_paths(state, MAPS) - shown if not under(p, always_empty)}


def test_downloading_state(make_exo_sim: Callable[..., RunningSim], version: str) -> None:
    """An instance of a model no node has: runners idle while each node downloads its shard."""
    sim = make_exo_sim(exo_version=version, downloaded={LLAMA_1B: []})
    sim.client.post("/_sim/settings", json={"speed": 1e-4}).raise_for_status()
    place(sim, LLAMA_70B, "Pipeline", "MlxRing", 2)
    state = sim.wait_for(lambda: (s := sim.state()) and all(
        "RunnerIdle" in r for r in s["runners"].values()) and len(s["runners"]) == 2 and sum(
        "DownloadOngoing" in d for entries in s["downloads"].values() for d in entries) == 2
        and s)
    assert unexplained(version, state) == {"runners.*.RunnerIdle"}
    ongoing = {p for p in key_paths(state, MAPS) if ".DownloadOngoing" in p}
    in_sample = {p for p in key_paths(sample(version, "state_ready"), MAPS)
                 if ".DownloadOngoing" in p}
    assert ongoing == in_sample


def test_failed_state(sim: RunningSim, version: str) -> None:
    """A runner of a two-node instance dead: it is failed, its peer shuts down."""
    sim.client.post("/_sim/settings", json={"retry_backoff": 600}).raise_for_status()
    instance = sim.load(LLAMA_70B, "Tensor", "MlxJaccl", 2)
    rank0, _ = runner_ids(instance)
    # A runner shuts down in a tenth of the load time: long enough to look at.
    sim.client.post("/_sim/settings", json={"load_time": 20}).raise_for_status()
    sim.client.post(f"/_sim/runners/{rank0}/fail").raise_for_status()
    state = sim.state()
    assert unexplained(version, state) == {"runners.*.RunnerShuttingDown"}
    assert {p for p in key_paths(state, MAPS) if "RunnerFailed" in p} == {
        p for p in key_paths(sample(version, "state_ready"), MAPS) if "RunnerFailed" in p}


def test_bare_runner_states_are_exos(sim: RunningSim) -> None:
    """Every runner state the simulator shows outside the samples is one of exo's bare tags."""
    sim.client.post("/_sim/settings", json={"load_time": 2}).raise_for_status()
    place(sim, LLAMA_70B, "Tensor", "MlxJaccl", 2)
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while "RunnerReady" not in seen and time.monotonic() < deadline:
        seen |= {next(iter(status)) for status in sim.state("/runners").values()}
        time.sleep(0.01)
    assert "RunnerReady" in seen
    assert {f"runners.*.{tag}" for tag in seen - {"RunnerLoading", "RunnerReady"}
            } <= BARE_RUNNER_STATES
