"""The page shell's tags (`{% load panel %}` in base.html; registered in settings.TEMPLATES)."""

from __future__ import annotations

from typing import Any

from django import template

from arthur_panel.navigation import NavLink, nav_links

register = template.Library()


@register.simple_tag(takes_context=True)
def navigation(context: dict[str, Any]) -> list[NavLink]:
    """The main navigation's links, the current page's marked."""
    return nav_links(context["request"].path)

