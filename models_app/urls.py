from __future__ import annotations

from django.urls import path

from models_app import views, views_plan, views_playground

urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("models/add/", views.model_add, name="model-add"),
    path("models/import-exo/", views.model_import_exo, name="models-import-exo"),
    path("models/<str:slug>/", views.model_detail, name="model"),
    path("planner/", views.planner, name="planner"),
    path("downloads/", views.downloads, name="downloads"),
    path("usage/", views.usage, name="usage"),
    path("playground/", views_playground.playground, name="playground"),
    path("integrations/", views_playground.integrations, name="integrations"),
    path("health/action-plan/", views_plan.action_plan, name="action-plan"),
]
