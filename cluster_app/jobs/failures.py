"""How work says it failed for a reason its user can read: plain Python, so code with no Django
(the download transfer) can raise it too."""

from __future__ import annotations


class WorkFailed(Exception):
    """A job's work failed for the reason its message explains (not a bug); `code` is the job's
    error code."""

    code = "failed"
