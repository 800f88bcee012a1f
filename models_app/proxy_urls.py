from __future__ import annotations

from django.urls import path

from models_app import proxy

urlpatterns = [
    path("models", proxy.list_models, name="v1-models"),
    path("chat/completions", proxy.chat_completions, name="v1-chat-completions"),
    path("messages", proxy.messages, name="v1-messages"),
]
