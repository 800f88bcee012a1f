"""The page a locked-out login gets: the login form again, saying when to try again."""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_cool_off
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_message(minutes: int) -> str:
    unit = "minute" if minutes == 1 else "minutes"
    return (f"Too many failed logins for this account or from this address: try again in "
            f"{minutes} {unit}, or ask an admin to unlock it.")


def locked_out(request: HttpRequest, original_response: Any = None,
               credentials: dict[str, Any] | None = None) -> HttpResponse:
    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else 0
    message = lockout_message(minutes) if minutes else (
        "Too many failed logins for this account or from this address: ask an admin to "
        "unlock it.")
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    return render(request, "registration/login.html",
                  {"form": form, "locked_out": message, "next": request.POST.get("next", "")},
                  status=429)
