"""A spy on os functions, for tests that count the system calls a store makes."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest


def spy_os(monkeypatch: pytest.MonkeyPatch, *names: str) -> list[tuple[str, tuple[Any, ...]]]:
    """Record (name, arguments) of every call of the os functions `names`, in call order, still calling them."""
    calls: list[tuple[str, tuple[Any, ...]]] = []
    for name in names:
        real: Callable[..., Any] = getattr(os, name)

        def spy(*args: Any, _name: str = name, _real: Callable[..., Any] = real) -> Any:
            calls.append((_name, args))
            return _real(*args)

        monkeypatch.setattr(os, name, spy)
    return calls
