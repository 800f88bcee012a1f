"""The `model.bench` job: exo's `POST /bench/chat/completions` over a matrix of prompt and
answer lengths, on the model's ready instance as it is, or on every placement exo offers for
it, each loaded, benchmarked and unloaded in turn.

It runs on the bulk lane: a benchmark is long user work, like a download, and must not hold
up the control lane's loads, polls and health checks (it loads and unloads on its own, with
the same exo calls as the `instance.load` job). Whatever it loaded is unloaded on every way
out, cancel and failure included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cluster_app.exo.client import ExoClient, ExoError
from cluster_app.exo.instances import create_placed, find_instance, follow_until_ready
from cluster_app.exo.state import InstanceView, normalise, untag
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter
from cluster_app.models import Job, Node
from models_app.bench import core
from models_app.bench.services import KIND, benchmark_run_record
from models_app.models import Benchmark

# One request may prefill a long prompt and write a long answer on a slow placement.
REQUEST_TIMEOUT = 900.0


@dataclass
class Progress:
    """The benchmark's one bar: runs done of all; loads show as its message."""

    reporter: JobReporter
    done: int
    total: int
    prefix: str = ""

    def log(self, line: str) -> None:
        self.reporter.log(line)

    def tick(self) -> None:
        self.reporter.tick()

    def progress(self, done: int, total: int | None = None, *, message: str | None = None,
                 unit: str | None = None, detail: dict[str, Any] | None = None) -> None:
        # A load's own figures (bytes, layers) stay out of the bar; its message shows.
        self.report(f"{self.prefix}: {message}" if message else self.prefix)

    def report(self, message: str) -> None:
        self.reporter.progress(self.done, self.total, unit="runs", message=message)


def run_bench(job: Job, reporter: JobReporter) -> dict[str, Any]:
    benchmark = Benchmark.objects.get(pk=job.params["benchmark"])
    benchmark.runs.all().delete()  # a retried job starts again
    cells = core.matrix(benchmark.prompt_lengths, benchmark.generation_lengths,
                        benchmark.runs_per_cell, None)
    names = dict(Node.objects.exclude(exo_node_id="").values_list("exo_node_id", "name"))
    with ExoClient() as client:
        if benchmark.mode == Benchmark.Mode.INSTANCE:
            instance = _ready_instance(client, benchmark.model_id,
                                       job.params.get("instance_id") or "")
            progress = Progress(reporter, 0, len(cells))
            _bench(client, benchmark, instance, cells, names, progress)
            placements = [_placement(instance)]
        else:
            _unload_leftover(client, job)
            placements = core.placements_from_previews(client.previews(benchmark.model_id))
            if not placements:
                raise RuntimeError(f"exo offers no placement for {benchmark.model_id} now "
                                   "(not enough free memory, or no node up)")
            progress = Progress(reporter, 0, len(placements) * len(cells))
            reporter.log("placements: " + "; ".join(p.label for p in placements))
            for placement in placements:
                _bench_placement(client, job, benchmark, placement, cells, names, progress)
    job.message = f"{progress.done} runs on {len(placements)} placement(s)"
    if progress.done == 0:
        raise RuntimeError("exo placed none of the placements it offered; the log says why")
    return {"benchmark": benchmark.pk, "runs": progress.done,
            "placements": [p.key for p in placements]}


def _bench_placement(client: ExoClient, job: Job, benchmark: Benchmark,
                     placement: core.Placement, cells: list[core.Cell], names: dict[str, str],
                     progress: Progress) -> None:
    progress.prefix = f"Loading {placement.label}"
    progress.report(progress.prefix)
    try:
        tagged = client.placement(model_id=benchmark.model_id, sharding=placement.sharding,
                                  instance_meta=placement.instance_meta,
                                  min_nodes=placement.nodes)
    except ExoError as error:
        # The previews offered it, but the cluster changed since (a node left, memory taken):
        # the other placements are still worth measuring.
        progress.log(f"skipped {placement.label}: exo no longer places it ({error})")
        progress.total -= len(cells)
        return
    instance_id = str(untag(tagged)[1]["instanceId"])
    try:
        create_placed(client, job, benchmark.model_id, tagged, progress)
        follow_until_ready(client, instance_id, progress)
        instance = find_instance(client, instance_id)
        if instance is None:
            raise RuntimeError(f"instance {instance_id} went away once ready")
        _bench(client, benchmark, instance, cells, names, progress)
    finally:
        _unload(client, instance_id)
        Job.objects.filter(pk=job.pk).update(result=None)
        progress.log(f"unloaded {placement.label}")


def _bench(client: ExoClient, benchmark: Benchmark, instance: InstanceView,
           cells: list[core.Cell], names: dict[str, str], progress: Progress) -> None:
    placement = _placement(instance)
    nodes = [names.get(node_id, node_id) for node_id in instance.node_ids]
    price = float(benchmark.electricity_usd_per_kwh)
    for cell in cells:
        progress.prefix = placement.label
        progress.report(f"{placement.label}: prompt {cell.prompt_length}, answer "
                        f"{cell.generation_length}, run {cell.run}")
        salt = f"benchmark {benchmark.pk} {placement.key} {cell.generation_length} {cell.run}"
        answer = client.bench_chat({
            "model": benchmark.model_id, "stream": False, "use_prefix_cache": False,
            "max_tokens": cell.generation_length,
            "messages": [{"role": "user", "content": core.prompt_text(cell.prompt_length, salt)}],
        }, timeout=REQUEST_TIMEOUT)
        try:
            figures = core.run_figures(answer, price)
        except ValueError as error:  # an exo that answers without its figures
            raise RuntimeError(f"{placement.label}: {error}") from None
        benchmark_run_record(benchmark=benchmark, placement=placement, node_names=nodes,
                             cell=cell, figures=figures)
        progress.done += 1
        progress.log(f"{placement.key} {cell.prompt_length}+{cell.generation_length} "
                     f"#{cell.run}: prefill {figures.prefill_tps:,.0f} tok/s, generation "
                     f"{figures.generation_tps:,.1f} tok/s")
    progress.report(f"{placement.label}: done")


def _placement(instance: InstanceView) -> core.Placement:
    return core.Placement(instance.sharding, instance.backend, len(instance.node_ids))


def _ready_instance(client: ExoClient, model_id: str, instance_id: str) -> InstanceView:
    """The instance to benchmark as it is: the one named, else the model's first ready one."""
    for instance in normalise(client.state()).instances:
        if instance.model_id != model_id or instance.status != "ready":
            continue
        if not instance_id or instance.instance_id == instance_id:
            return instance
    named = f"instance {instance_id} of " if instance_id else ""
    raise RuntimeError(f"No ready {named}{model_id} on the cluster: load it first, or "
                       "benchmark every placement.")


def _unload(client: ExoClient, instance_id: str) -> None:
    if find_instance(client, instance_id) is not None:
        client.delete_instance(instance_id)


def _unload_leftover(client: ExoClient, job: Job) -> None:
    """A retried job's instance, loaded before its worker died."""
    if loaded := (job.result or {}).get("instance_id"):
        _unload(client, str(loaded))


BENCH = JobKind(name=KIND, label="Model benchmark", run=run_bench, needs_node=False,
                max_active_per_user=1)
