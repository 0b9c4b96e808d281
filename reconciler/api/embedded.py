"""The bundled fake, served in this process for `--mock`: no account, no network, nothing paid.

`apply --mock` starts `mockserver` on a free loopback port in a background thread, with its own
key and a fast time scale (a model's minutes pass in seconds), and reconciles against it in the
`mock` namespace, so what it makes never satisfies a spec against the real API. The fake forgets
its jobs when the run ends; what was stored stays stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

MOCK_KEY: Final = "mock-key"
MOCK_TIME_SCALE: Final = 0.01  # a 100 s model takes 1 s


@contextmanager
def embedded_fake(*, time_scale: float = MOCK_TIME_SCALE, seed: int = 0) -> Iterator[str]:
    """Serve a fresh fake on 127.0.0.1; yields its base URL."""
    from mockserver.app import create_app
    from mockserver.clock import RealClock
    from mockserver.config import MockConfig
    from mockserver.serving import in_thread

    config = MockConfig(keys={MOCK_KEY: 1_000_000.0}, time_scale=time_scale, seed=seed)
    with in_thread(create_app(config, RealClock())) as url:
        yield url
