"""The ``tender`` command line: serve, migrate, and manage clients and gift cards."""

from __future__ import annotations

from tender.cli.main import app, main

__all__ = ["app", "main"]
