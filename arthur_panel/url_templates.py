"""The panel's named routes as URL templates for its scripts: `/api/v1/jobs/{job_id}/cancel/`.

Every page carries them (base.html) and static/js/live.js fills them in (`Live.url`), so the
scripts write no path of their own and follow the URLconf wherever it puts a route.
"""

from __future__ import annotations

from django.urls import URLResolver, get_resolver, get_script_prefix
from django.urls.resolvers import RoutePattern

from arthur_panel.routing import websocket_urlpatterns

# The websockets' routes are not in the URLconf: a resolver of their own reverses them.
SOCKETS = URLResolver(RoutePattern(""), websocket_urlpatterns)


def url_templates() -> dict[str, str]:
    """Return `{route name: template}` for every named route, pages, API and websockets,
    each parameter as `{name}`: `{"api-job": "/api/v1/jobs/{job_id}/", ...}`.

    Built from Django's own reversing data, so a template is what `reverse()` would give with
    each parameter's name as its value (the script prefix included)."""
    prefix = get_script_prefix()
    templates = {}
    for resolver in (get_resolver(), SOCKETS):
        for name in resolver.reverse_dict:
            # Views are keys too (reverse by callable); namespaced routes (the admin) are not.
            if not isinstance(name, str):
                continue
            # The entry reverse() tries first, and its first form (Django's own choice).
            (path, params), *_ = resolver.reverse_dict.getlist(name)[0][0]
            templates[name] = prefix + path % {param: f"{{{param}}}" for param in params}
    return templates
