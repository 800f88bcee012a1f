"""The account page: the session's expiry and "log out everywhere"."""

from __future__ import annotations

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cluster_app.account.services import sessions_end_all, user_session_keys


def account_page(request: HttpRequest) -> HttpResponse:
    return render(request, "cluster_app/account.html", {
        "sessions": len(user_session_keys(request.user)),
        "expires": request.session.get_expiry_date(),
        "at_browser_close": request.session.get_expire_at_browser_close()})


@require_POST
def logout_everywhere(request: HttpRequest) -> HttpResponse:
    sessions_end_all(user=request.user)
    # This session went with the others: finish the job here (the logout is recorded too).
    logout(request)
    return redirect("login")
