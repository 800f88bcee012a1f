from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer

from arthur_panel.errors import bad_request, json_or_page, server_error


class ApiDocsView(SpectacularSwaggerSplitView):
    """The browsable API page; its errors in the API's JSON shape, like every /api/ route. Its
    script and styles are files of their own (the split view, and a template without the
    `<style>` block): the Content Security Policy refuses inline ones."""

    template_name = "api_docs.html"

    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response


urlpatterns = [
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("cluster_app.api_urls")),
    path("api/v1/", include("models_app.api_urls")),
    path("v1/", include("models_app.proxy.urls")),
    path("api/v1/schema/", login_not_required(SpectacularJSONAPIView.as_view()), name="schema"),
    path("api/v1/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("", include("cluster_app.urls")),
    path("", include("models_app.urls")),
]

handler400 = bad_request
handler404 = json_or_page(defaults.page_not_found, "Not found.", "not_found", 404)
handler500 = server_error
