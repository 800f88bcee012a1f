"""The password hasher of in-process tests: Django's own, at few iterations. Its hashes keep
Django's name and carry their iteration count, so a live stack's web process, with the
default hasher, still checks them (and strengthens them at the first login)."""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class QuickPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1000
