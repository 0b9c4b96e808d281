"""CI tests use the end-to-end fixtures: a real fake on a socket, and apply pointed at it."""

from __future__ import annotations

from tests.e2e.conftest import apply, fake  # noqa: F401 (fixtures shared with tests/e2e)
