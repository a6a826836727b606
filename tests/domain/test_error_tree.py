"""Every business error of the service is drawn in ``tender.domain.errors``' docstring, where its
parent decides its HTTP status (``tender.api.errors.STATUS``): an error added anywhere without
its place in the drawing fails here, with the drawing to paste."""

from __future__ import annotations

import importlib
import pkgutil

import tender
from tender.domain import errors
from tender.domain.errors import DomainError


def _import_everything() -> None:
    for module in pkgutil.walk_packages(tender.__path__, "tender."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)


def drawing() -> list[str]:
    """The DomainError tree as it is, one line per class: name, module, code."""
    lines = ["DomainError"]

    def walk(cls: type[DomainError], prefix: str) -> None:
        ours = [c for c in cls.__subclasses__() if c.__module__.startswith("tender.")]
        children = sorted(ours, key=lambda c: c.__name__)  # not the tests' own subclasses
        for n, child in enumerate(children):
            last = n == len(children) - 1
            branch = "└── " if last else "├── "
            label = f"{prefix}{branch}{child.__name__}"
            module = child.__module__.removeprefix("tender.")
            lines.append(f"{label:<40} {module:<27} {child.code}".rstrip())
            walk(child, prefix + ("    " if last else "│   "))

    walk(DomainError, "")
    return lines


def test_every_domain_error_is_drawn_in_the_error_module() -> None:
    _import_everything()
    expected = drawing()
    doc = errors.__doc__ or ""
    drawn = [line[4:].rstrip() for line in doc.splitlines() if line.startswith("    ")]
    assert drawn == expected, "paste this into tender/domain/errors.py:\n" + "\n".join(
        "    " + line for line in expected
    )
