from __future__ import annotations

from django.urls import path

from models_app.action_plan import views as action_plan_views
from models_app.bench import views as bench_views
from models_app.catalogue import views as catalogue_views
from models_app.downloads import views as downloads_views
from models_app.planner import views as planner_views
from models_app.proxy import playground
from models_app.usage import views as usage_views

urlpatterns = [
    path("models/", catalogue_views.model_list, name="models"),
    path("models/add/", catalogue_views.model_add, name="model-add"),
    path("models/import-exo/", catalogue_views.model_import_exo, name="models-import-exo"),
    path("models/<str:slug>/", catalogue_views.model_detail, name="model"),
    path("models/<str:slug>/exo-card/", catalogue_views.model_exo_card, name="model-exo-card"),
    path("planner/", planner_views.planner, name="planner"),
    path("downloads/", downloads_views.downloads, name="downloads"),
    path("usage/", usage_views.usage, name="usage"),
    path("benchmarks/", bench_views.benchmarks_page, name="benchmarks"),
    path("playground/", playground.playground, name="playground"),
    path("playground/c/<int:conversation_id>/", playground.playground,
         name="playground-conversation"),
    path("integrations/", playground.integrations, name="integrations"),
    path("health/action-plan/", action_plan_views.action_plan, name="action-plan"),
]
