from __future__ import annotations

from argparse import ArgumentTypeError
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from arthur_panel.exceptions import DomainError
from cluster_app.access.keys import key_create
from cluster_app.access.limits import KINDS, LABELS
from cluster_app.access.rules import SCOPES, parse_expiry, parse_scopes, scopes_beyond


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return int(text)


class Command(BaseCommand):
    help = ("Print a new API key for a user (shown once; only its hash is stored). Without "
            "--scope it has every scope the user's role allows.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What the key is for")
        parser.add_argument("--note", default="", help="A longer note about the key")
        parser.add_argument(
            "--scope", action="append", default=[], dest="scopes",
            help=f"Repeatable or a comma list: {', '.join(SCOPES)} (default: all of them the "
                 "user's role allows)")
        parser.add_argument("--models", default="",
                            help="Comma list of the models a chat key may use (default: all)")
        parser.add_argument("--expires", default="",
                            help="A span (30d, 12h, 2w, 90m) or an ISO date (default: never)")
        for kind, label in LABELS.items():
            parser.add_argument(f"--{kind.replace('_', '-')}", type=_positive, default=None,
                                dest=kind, help=f"This key's own limit: {label} (default: only "
                                                "the user's)")

    def handle(self, *args: Any, username: str, name: str, note: str, scopes: list[str],
               models: str, expires: str, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        try:
            chosen = parse_scopes(scopes) if scopes else None
            expires_at = parse_expiry(expires, timezone.now()) if expires else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if chosen is None:
            # What keys made before scopes did: everything the user's role allows.
            chosen = [scope for scope in SCOPES
                      if scope not in scopes_beyond(SCOPES, user.has_perm)]
        try:
            _, secret = key_create(user=user, name=name, scopes=chosen, models=models.split(","),
                                   expires_at=expires_at, note=note,
                                   limits={kind: options[kind] for kind in KINDS})
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(secret)
