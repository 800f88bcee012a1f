"""The page shell's tags (`{% load panel %}` in base.html; registered in settings.TEMPLATES)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString

from arthur_panel.navigation import NavLink, nav_links
from arthur_panel.url_templates import url_templates

register = template.Library()


@register.simple_tag(takes_context=True)
def navigation(context: dict[str, Any]) -> list[NavLink]:
    """The main navigation's links, the current page's marked."""
    request = context["request"]
    return nav_links(request.path, staff=request.user.is_staff)


@register.simple_tag
def script_urls() -> SafeString:
    """`<script type="application/json" id="urls">`: the URL templates for `Live.url`."""
    return json_script(url_templates(), "urls")
