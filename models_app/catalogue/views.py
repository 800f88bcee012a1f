"""Catalogue pages: the list with filters, one model, and adding one from the Hub."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from arthur_panel.exceptions import DomainError
from cluster_app.access.permissions import RUN_JOBS, require
from cluster_app.exo.client import ExoClient
from cluster_app.models import Node
from cluster_app.nodes.poll import cluster_snapshot
from models_app.catalogue import services
from models_app.catalogue.selectors import catalogue_models, exo_card_ids
from models_app.models import LlmModel
from models_app.planner.core import DEFAULT_CONTEXT_TOKENS, Plan, PlanNode, plan
from models_app.planner.inputs import plan_model, plan_nodes


class CatalogueFilter(forms.Form):
    q = forms.CharField(required=False, label="Search")
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *LlmModel.Tier.choices])
    role = forms.ChoiceField(required=False, choices=[("", "Any role"),
                                                      *[(r, r.capitalize())
                                                        for r in LlmModel.ROLES]])
    fits = forms.ChoiceField(required=False, label="Fits now",
                             choices=[("", "Fits or not"), ("yes", "Fits now"),
                                      ("no", "Does not fit")])
    downloaded = forms.ChoiceField(required=False, label="Downloaded",
                                   choices=[("", "Anywhere or nowhere"), ("yes", "On some node"),
                                            ("no", "Nowhere yet")])


class AddModelForm(forms.Form):
    repo_id = forms.CharField(label="Hugging Face repo id", max_length=200,
                              widget=forms.TextInput(attrs={
                                  "placeholder": "mlx-community/Llama-3.2-3B-Instruct-4bit"}))


def downloads_by_model() -> dict[str, list[str]]:
    """exo model id -> nodes holding a complete copy, from the latest cluster poll."""
    where: dict[str, list[str]] = {}
    for download in (cluster_snapshot() or {}).get("downloads", []):
        if download["status"] == "completed" and download.get("node"):
            where.setdefault(download["model_id"], []).append(download["node"])
    return where


def fits_now(model: LlmModel, nodes: list[PlanNode]) -> Plan | None:
    """The model alone with a 64k context on the cluster as it is now; None if unplannable."""
    if not model.n_layers:
        return None
    try:
        return plan([plan_model(model)], nodes, context_tokens=DEFAULT_CONTEXT_TOKENS)
    except ValueError:  # facts missing that a plan needs (attention heads, say)
        return None


def model_list(request: HttpRequest) -> HttpResponse:
    form = CatalogueFilter(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    rows = catalogue_models(q=data.get("q", ""), tier=data.get("tier", ""),
                            role=data.get("role", ""))
    where = downloads_by_model()
    nodes = plan_nodes(live=True)  # read once: the same cluster for every row
    fits = {m.slug: fits_now(m, nodes) for m in rows}
    if data:
        if data["fits"]:
            wanted = data["fits"] == "yes"
            rows = [m for m in rows if (plan := fits[m.slug]) is not None and plan.fits == wanted]
        if data["downloaded"]:
            wanted = data["downloaded"] == "yes"
            rows = [m for m in rows if bool(where.get(m.exo_model_id)) == wanted]
    cards = exo_card_ids()  # None when exo does not answer: say nothing about its cards
    entries = [{"model": m, "nodes": where.get(m.exo_model_id, []), "plan": fits[m.slug],
                "exo_knows": cards is None or m.exo_id in cards} for m in rows]
    return render(request, "models_app/model_list.html", {"form": form, "entries": entries,
                                                          "add_form": AddModelForm()})


def model_detail(request: HttpRequest, slug: str) -> HttpResponse:
    model = get_object_or_404(LlmModel, slug=slug)
    return render(request, "models_app/model_detail.html",
                  {"model": model, "nodes": downloads_by_model().get(model.exo_model_id, []),
                   "plan": fits_now(model, plan_nodes(live=True)),
                   "exo_nodes": Node.objects.filter(in_exo_cluster=True),
                   "exo_knows": (cards := exo_card_ids()) is None or model.exo_id in cards})


def model_add(request: HttpRequest) -> HttpResponse:
    form = AddModelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            require(request.user, RUN_JOBS, "Adding a model")
            model = services.model_add_from_hub(repo_id=form.cleaned_data["repo_id"])
        except DomainError as error:
            form.add_error("repo_id", error.message)
        else:
            messages.success(request, f"Added {model.display_name} from the Hub.")
            return redirect("model", slug=model.slug)
    return render(request, "models_app/model_add.html", {"form": form})


def model_import_exo(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect("models")
    try:
        require(request.user, RUN_JOBS, "Importing exo's catalogue")
        with ExoClient() as client:
            created = services.models_import_from_exo(client=client)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Imported {len(created)} new model(s) from exo's catalogue."
                         if created else "exo's catalogue has nothing new.")
    return redirect("models")


def model_exo_card(request: HttpRequest, slug: str) -> HttpResponse:
    """The "Add it to exo" button: exo adds the model's card, and the page says how it went."""
    model = get_object_or_404(LlmModel, slug=slug)
    if request.method == "POST":
        try:
            require(request.user, RUN_JOBS, "Adding a model's card to exo")
            with ExoClient() as client:
                added = services.model_exo_card_add(model=model, client=client)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"exo now knows {model.display_name} ({model.exo_id})."
                             if added else f"exo already knew {model.display_name}.")
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure()):
        return redirect(back)
    return redirect("model", slug=model.slug)
