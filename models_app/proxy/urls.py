from __future__ import annotations

from django.urls import path

from models_app.proxy import views

urlpatterns = [
    path("models", views.list_models, name="v1-models"),
    path("chat/completions", views.chat_completions, name="v1-chat-completions"),
    path("messages", views.messages, name="v1-messages"),
]
