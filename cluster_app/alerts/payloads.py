"""What each kind of channel is sent for a notice: the generic webhook's JSON body (README,
"Alerts"), ntfy's text and headers, a Slack-compatible webhook's `{"text"}`, an email's
subject and body. Pure: plain data in, plain data out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WEBHOOK_VERSION = 1
# ntfy's priorities (1 to 5) and tags (emoji short codes shown beside the title).
NTFY_PRIORITY = {("firing", "critical"): "5", ("firing", "warning"): "4"}
NTFY_TAGS = {"firing": "rotating_light", "resolved": "white_check_mark", "test": "bell"}


@dataclass(frozen=True)
class HttpRequest:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: dict[str, Any] | None = None
    content: str | None = None


@dataclass(frozen=True)
class EmailMessage:
    recipients: list[str]
    subject: str
    body: str


def title(body: dict[str, Any]) -> str:
    """One line: `[FIRING critical] Node offline: beta`."""
    alert = body["alert"]
    state = body["event"].upper()
    severity = f" {alert['severity']}" if body["event"] == "firing" else ""
    subject = f": {alert['subject']}" if alert["subject"] else ""
    return f"[{state}{severity}] {alert['name']}{subject}"


def text(body: dict[str, Any]) -> str:
    """The notice as a few lines of text: the title, the summary, the hint, the link."""
    alert = body["alert"]
    lines = [title(body), alert["summary"]]
    if alert["hint"] and body["event"] != "resolved":
        lines.append(alert["hint"])
    if alert["url"]:
        lines.append(alert["url"])
    return "\n".join(lines)


def webhook_request(url: str, body: dict[str, Any]) -> HttpRequest:
    return HttpRequest(url, {"Content-Type": "application/json"}, json=body)


def slack_request(url: str, body: dict[str, Any]) -> HttpRequest:
    return HttpRequest(url, {"Content-Type": "application/json"}, json={"text": text(body)})


def ntfy_request(url: str, body: dict[str, Any]) -> HttpRequest:
    alert = body["alert"]
    headers = {"Title": title(body),
               "Priority": NTFY_PRIORITY.get((body["event"], alert["severity"]), "3"),
               "Tags": NTFY_TAGS[body["event"]]}
    if alert["url"]:
        headers["Click"] = alert["url"]
    summary = [alert["summary"]] + ([alert["hint"]] if alert["hint"] and
                                    body["event"] != "resolved" else [])
    # HTTP header values are Latin-1: anything else goes in the body only.
    headers = {k: v.encode("latin-1", "replace").decode("latin-1") for k, v in headers.items()}
    return HttpRequest(url, headers, content="\n".join(summary))


def email_message(recipients: list[str], body: dict[str, Any]) -> EmailMessage:
    return EmailMessage(recipients, f"ARTHUR Panel {title(body)}", text(body))
