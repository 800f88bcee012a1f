"""Model downloads as jobs on the target node's queue: preflight, exo's card, transfer, verify,
delete.

huggingface_hub gives the file list, sizes, hashes and URLs; `transfer` moves the bytes with
ranged requests, several files and several ranges of a file at once (`DOWNLOAD_CONNECTIONS`,
`DOWNLOAD_FILES_AT_ONCE`), so a pause, a dropped connection or a killed worker resumes inside a
file. A
download first gives exo the model's card if exo has none (exo lists and loads only models it
has a card for); a delete also tells exo, whose entry would otherwise say "completed" until it
restarts (exo issue 1568).
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Sum
from huggingface_hub import hf_hub_url
from huggingface_hub.utils import build_hf_headers

from arthur_panel.exceptions import DomainError
from cluster_app.exo.cards import card_ensure
from cluster_app.exo.client import ExoClient, ExoError, ExoUnavailable
from cluster_app.exo.state import normalise
from cluster_app.jobs.registry import JobKind
from cluster_app.jobs.reporter import JobReporter, JobStopped
from cluster_app.jobs.services import job_create
from cluster_app.models import Job, Node
from cluster_app.nodes.live import match_nodes
from cluster_app.nodes.poll import inventory_node
from cluster_app.nodes.units import format_size
from models_app.catalogue.hub import RepoMetadata, repo_metadata
from models_app.downloads.metrics import DOWNLOAD_BYTES, DOWNLOAD_FAILURES, failure_reason
from models_app.downloads.partial import kept_bytes
from models_app.downloads.transfer import (
    FileSpec,
    Limits,
    TransferProgress,
    download_files,
    remove_partials,
)
from models_app.models import LlmModel

DOWNLOAD, DELETE = "model.download", "model.delete"
# Downloads one user may have under way: the guide's recommended set (seven models) on both
# exo nodes, with room to spare.
MAX_DOWNLOADS_PER_USER = 16


class InsufficientDisk(DomainError):
    status_code = 409
    code = "insufficient_disk"


def model_dir(node: Node, repo_id: str) -> Path:
    """Where exo looks for the model on `node`: `<models dir>/<org>--<name>/`."""
    return node.model_path(repo_id)


def shortfall(needed: int, free: int, node: Node) -> InsufficientDisk | None:
    if needed <= free:
        return None
    return InsufficientDisk(f"needs {format_size(needed)}, {format_size(max(free, 0))} free on "
                            f"{node.display_name}")


def reserved_on(node: Node) -> int:
    """Bytes still to arrive for downloads in flight on `node`."""
    active = Job.objects.filter(kind=DOWNLOAD, node=node, state__in=Job.ACTIVE)
    totals = active.exclude(total=None).aggregate(total=Sum("total"), done=Sum("done"))
    unknown = active.filter(total=None)
    pending = sum(LlmModel.objects.filter(slug=j.params.get("model")).values_list(
        "size_bytes", flat=True).first() or 0 for j in unknown)
    return (totals["total"] or 0) - (totals["done"] or 0) + pending


def free_disk(node: Node) -> int:
    """Free bytes on the node's models disk: exo's figure while it reports the node, else the
    disk of this machine's copy of the directory (the demo, or a worker on this node)."""
    if node.disk_free is not None and node.is_live:
        return node.disk_free
    return shutil.disk_usage(_existing_parent(node.models_path)).free


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def target_nodes(model: LlmModel, node_name: str | None) -> list[Node]:
    """The named node; "all" (or a tensor-parallel model with no node named): every exo node
    the placement needs; otherwise ALPHA, the master."""
    if node_name and node_name != "all":
        node = Node.objects.filter(name=node_name).first()
        if node is None:
            raise DomainError(f"No node '{node_name}' in the inventory.", code="unknown_node")
        return [node]
    if node_name == "all" or model.tensor_parallel == LlmModel.TensorParallel.REQUIRED:
        return list(Node.objects.filter(in_exo_cluster=True))
    master = Node.objects.filter(role=Node.Role.MASTER).first() or Node.objects.first()
    if master is None:
        raise DomainError("The inventory has no node to download to.", code="no_nodes")
    return [master]


def download_start(*, model: LlmModel, node_name: str | None, user: Any,
                   enqueue: bool = True) -> list[tuple[Job, bool]]:
    """Preflight, then one job per target node; a node already downloading it returns its job."""
    if model.gated and not settings.HF_TOKEN:
        raise DomainError(f"{model.repo_id} is gated: accept its licence on the Hub, then set "
                          "HF_TOKEN.", code="gated_repo", status_code=403)
    nodes = target_nodes(model, node_name)
    started = []
    for node in nodes:
        active = Job.objects.filter(kind=DOWNLOAD, dedupe_key=_key(model, node),
                                    state__in=Job.ACTIVE).first()
        if active is None and (refusal := shortfall(model.size_bytes,
                                                    free_disk(node) - reserved_on(node), node)):
            raise refusal
    for node in nodes:
        started.append(job_create(kind=DOWNLOAD, node=node, user=user, enqueue=enqueue,
                                  params={"model": model.slug, "repo_id": model.repo_id},
                                  dedupe_key=_key(model, node)))
    return started


def download_delete(*, model: LlmModel, node: Node, user: Any) -> Job:
    active = Job.objects.filter(kind=DOWNLOAD, dedupe_key=_key(model, node), state__in=Job.ACTIVE)
    if active.exists():
        raise DomainError(f"{model.display_name} is downloading on {node.display_name}: cancel "
                          "the download first.", code="download_active", status_code=409)
    job, _ = job_create(kind=DELETE, node=node, user=user, dedupe_key=_key(model, node),
                        params={"model": model.slug, "repo_id": model.repo_id})
    return job


def _key(model: LlmModel, node: Node) -> str:
    return f"{model.repo_id}@{node.name}"


def file_specs(meta: RepoMetadata) -> list[FileSpec]:
    return [FileSpec(path=f.path, size=f.size, sha256=f.sha256,
                     url=hf_hub_url(meta.repo_id, f.path, revision=meta.sha,
                                    endpoint=settings.HF_ENDPOINT))
            for f in meta.needed_files]


def _present(dest: Path, files: list[FileSpec]) -> int:
    """Bytes already on disk for these files, complete or partial."""
    present = 0
    for spec in files:
        final = dest / spec.path
        if final.exists():
            present += min(final.stat().st_size, spec.size)
        else:
            present += kept_bytes(final, spec.size, spec.sha256)
    return present


def exo_id_of(params: dict[str, Any]) -> str:
    """exo's id for the job's model: the catalogue's, else the repo id."""
    model = LlmModel.objects.filter(slug=params.get("model")).first()
    return model.exo_id if model else params["repo_id"]


def _give_exo_the_card(job: Job, reporter: JobReporter) -> None:
    """A download's first step. exo down is no reason not to download: the load adds the card."""
    model_id = exo_id_of(job.params)
    try:
        with ExoClient(retries=0) as client:
            card_ensure(client, model_id, reporter.log)
    except ExoUnavailable as error:
        reporter.log(f"{error.message} Its card for {model_id} is added when the model loads.")


def run_download(job: Job, reporter: JobReporter) -> dict[str, Any]:
    assert job.node is not None
    DOWNLOAD_FAILURES.labels(job.node.name, "transfer_failed")  # 0 until one fails
    try:
        return _download(job, job.node, reporter)
    except JobStopped:
        raise
    except Exception as exc:
        DOWNLOAD_FAILURES.labels(job.node.name, failure_reason(exc)).inc()
        raise


def _download(job: Job, node: Node, reporter: JobReporter) -> dict[str, Any]:
    repo_id = job.params["repo_id"]
    _give_exo_the_card(job, reporter)
    meta = repo_metadata(repo_id, files_only=True)
    files = file_specs(meta)
    dest = model_dir(node, repo_id)
    total = sum(spec.size for spec in files)
    needed = total - _present(dest, files)
    # The authoritative check, on the node itself, before any byte moves.
    if refusal := shortfall(needed, shutil.disk_usage(_existing_parent(dest)).free, node):
        raise refusal
    reporter.log(f"{len(files)} files, {format_size(total)}, into {dest}")
    per_file = {spec.path: [0, spec.size] for spec in files}

    def on_progress(p: TransferProgress) -> None:
        per_file[p.path] = [p.file_done, p.file_total]
        reporter.progress(p.done, p.total, unit="bytes",
                          message=f"{p.files_done} of {p.files_total} files · {p.path}",
                          detail={"files": per_file, "files_done": p.files_done,
                                  "files_total": p.files_total})

    timeout = httpx.Timeout(30.0, read=settings.DOWNLOAD_STALL_SECONDS)
    headers = build_hf_headers(token=settings.HF_TOKEN or False)
    # The token goes to the Hub only, never to the CDN its downloads are redirected to.
    auth = {k: v for k, v in headers.items() if k.lower() == "authorization"}
    limits = Limits(connections=settings.DOWNLOAD_CONNECTIONS,
                    files_at_once=settings.DOWNLOAD_FILES_AT_ONCE)
    try:
        with httpx.Client(headers={k: v for k, v in headers.items() if k not in auth},
                          timeout=timeout) as client:
            download_files(files, dest, client=client, on_progress=on_progress,
                           check_stop=reporter.check, stall_seconds=settings.DOWNLOAD_STALL_SECONDS,
                           max_retries=settings.DOWNLOAD_RETRIES, auth=auth, limits=limits,
                           on_bytes=DOWNLOAD_BYTES.labels(node.name).inc)
    except JobStopped as stop:
        if stop.control == Job.Control.CANCEL:
            removed = remove_partials(dest)
            reporter.log(f"cancelled: removed {removed} partial file(s)")
        raise
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # The disk filled after the check (other writers, or files taking whole blocks): what
        # arrived stays in its .partial file, and a retry resumes there once there is room.
        left = total - _present(dest, files)
        free = shutil.disk_usage(_existing_parent(dest)).free
        raise InsufficientDisk(f"disk full on {node.display_name}: needs {format_size(left)} "
                               f"more, has {format_size(free)} free; the partial files are kept "
                               "for a resume") from exc
    reporter.log(f"verified {len(files)} files (sizes, and sha256 of LFS files)")
    return {"path": str(dest), "files": len(files), "bytes": total, "revision": meta.sha}


def run_delete(job: Job, reporter: JobReporter) -> dict[str, Any]:
    assert job.node is not None
    dest = model_dir(job.node, job.params["repo_id"])
    freed = 0
    if dest.exists():
        freed = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
        shutil.rmtree(dest)
    told = _tell_exo(job.node, exo_id_of(job.params), reporter)
    reporter.progress(1, 1, unit="steps", message=f"Deleted, {format_size(freed)} freed")
    return {"path": str(dest), "freed_bytes": freed, "exo_told": told}


def _tell_exo(node: Node, model_id: str, reporter: JobReporter) -> bool:
    """Have exo delete its copy on the node too (`DELETE /download/{node_id}/{model_id}`), so
    its entry for it goes; True when exo was told. Without it exo says "completed" for files
    that are gone until it restarts (exo issue 1568). Nothing to do when exo does not list the
    node."""
    try:
        with ExoClient(retries=0) as client:
            seen = match_nodes(normalise(client.state()).nodes, [inventory_node(node)])
            if node.name not in seen:
                reporter.log(f"exo does not list {node}: it has no entry to forget")
                return False
            node_id = seen[node.name].node_id
            client.delete_download(node_id, model_id)
    except (ExoUnavailable, ExoError) as error:
        reporter.log(f"could not tell exo to forget {model_id} on {node}: {error.message}")
        return False
    reporter.log(f"told exo to delete {model_id} on {node} (node {node_id})")
    return True


DOWNLOAD_KIND = JobKind(name=DOWNLOAD, label="Download", run=run_download, pausable=True,
                        max_active_per_user=MAX_DOWNLOADS_PER_USER)
DELETE_KIND = JobKind(name=DELETE, label="Delete download", run=run_delete)
