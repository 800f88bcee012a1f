"""Where a load stands, from exo's state: shards downloading (bytes), runners starting, loading
layers, warming up, ready, failed."""

from __future__ import annotations

from cluster_app.exo.loading import load_stage, lost_instance
from cluster_app.exo.state import DownloadView, InstanceView, RunnerView

MODEL = "mlx-community/Meta-Llama-3.1-70B-Instruct-4bit"
GIB = 1024**3
NAMES = {"a": "ALPHA", "b": "BETA"}


def instance(*states: str, loaded: int = 0) -> InstanceView:
    runners = [RunnerView(f"r-{node}", node, state, layers_loaded=loaded, total_layers=40)
               for node, state in zip("ab", states, strict=True)]
    return InstanceView("i", MODEL, "MlxRing", "Pipeline", ["a", "b"], runners, n_layers=80)


def download(node: str, status: str, done: int = 0, total: int = 20 * GIB,
             model: str = MODEL) -> DownloadView:
    return DownloadView(node, model, status, downloaded=done, total=total)


def test_while_the_nodes_download_their_shards_progress_is_in_bytes():
    stage = load_stage(instance("Idle", "Idle"),
                       [download("a", "completed", total=20 * GIB),
                        download("b", "ongoing", done=5 * GIB),
                        download("b", "completed", model="someone/else")], NAMES)
    assert (stage.phase, stage.done, stage.total, stage.unit) == (
        "downloading", 25 * GIB, 40 * GIB, "bytes")
    assert stage.message == "Downloading shards: 25 GB of 40 GB (ALPHA done, BETA 25%)"


def test_a_small_shard_is_counted_in_megabytes():
    stage = load_stage(instance("Pending", "Pending"),
                       [download("a", "ongoing", done=512 * 1024, total=2 * 1024**2),
                        download("b", "pending", total=2 * 1024**2)], NAMES)
    assert stage.message == "Downloading shards: 0.5 MB of 4.0 MB (ALPHA 25%, BETA 0%)"


def test_with_the_shards_there_the_runners_start_then_load_layers():
    shards = [download("a", "completed"), download("b", "completed")]
    starting = load_stage(instance("Idle", "Connecting"), shards, NAMES)
    assert (starting.phase, starting.unit, starting.total) == ("starting", "layers", 80)
    assert starting.message == "Starting runners (connecting, idle): 0/80 layers"
    loading = load_stage(instance("Loading", "Loading", loaded=10), shards, NAMES)
    assert (loading.phase, loading.done, loading.message) == (
        "loading", 20, "Loading layers: 20/80 layers")
    warming = load_stage(instance("WarmingUp", "WarmingUp"), shards, NAMES)
    assert (warming.phase, warming.done) == ("warming up", 80)
    ready = load_stage(instance("Ready", "Running"), shards, NAMES)
    assert (ready.phase, ready.done, ready.total, ready.message) == (
        "ready", 80, 80, "Ready on ALPHA, BETA")


def test_runners_exo_does_not_list_yet_are_starting_without_a_download_entry():
    stage = load_stage(instance("Pending", "Pending"), [], NAMES)
    assert stage.message == "Starting runners (process starting): 0/80 layers"


def test_a_failed_runner_or_download_fails_the_load_with_the_reason():
    failed = instance("Failed", "ShuttingDown")
    failed.runners[0].error = "Terminated (signal=11 (Segmentation fault: 11))"
    stage = load_stage(failed, [], NAMES)
    assert (stage.phase, stage.error) == ("failed",
                                          "Terminated (signal=11 (Segmentation fault: 11))")
    broken = DownloadView("b", MODEL, "failed", error="disk full")
    assert load_stage(instance("Idle", "Idle"), [broken], NAMES).error == (
        "BETA could not download its shard: disk full")


def test_an_instance_lost_with_its_nodes_back_under_new_ids_was_lost_to_an_exo_restart():
    lost = lost_instance({"a": "ALPHA", "b": "BETA"}, {"c": "ALPHA", "d": "BETA"})
    assert lost.restarted
    assert lost.message == ("exo restarted while the model was loading: ALPHA, BETA came back "
                            "under new node ids, without the instance. Load the model again.")


def test_an_instance_lost_otherwise_says_what_may_have_happened():
    unloaded = lost_instance({"a": "ALPHA"}, {"a": "ALPHA", "b": "BETA"})
    assert not unloaded.restarted and "a node dropped out, or it was unloaded" in unloaded.message
    assert not lost_instance({}, {"a": "ALPHA"}).restarted  # lost before it was ever seen
    left = lost_instance({"a": "ALPHA", "b": "BETA"}, {"c": "ALPHA"})
    assert not left.restarted
    assert left.message.startswith("the nodes the model was loading on (ALPHA, BETA) left")
