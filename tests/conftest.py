"""Shared fixtures: run the real CLI in-process or as a real process, write spec trees, store bytes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from reconciler.store import BlobInfo, Store

# CI replays the same examples every run (a red CI is never luck); locally every run explores anew.
# `pytest --hypothesis-profile=long` is the nightly profile: many more examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("long", max_examples=2_000, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory that is the working directory of the test."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "specs").mkdir()
    return tmp_path


@pytest.fixture
def write(project: Path) -> Callable[[str, str], Path]:
    """Write a spec file (dedented) under the project; returns its path."""

    def _write(relative: str, text: str) -> Path:
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """Run `reconciler ARGS` in-process through its real entry point."""
    from reconciler.cli import main

    def _run(*args: str) -> Run:
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        captured = capsys.readouterr()
        code = exit_info.value.code
        return Run(int(code) if isinstance(code, int) else 1, captured.out, captured.err)

    return _run


@pytest.fixture
def process() -> Callable[..., Run]:
    """Run `python -m reconciler ARGS` as a real process (to see exactly what a user sees)."""
    return run_process


def run_process(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
    completed = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def put_blob(
    store: Store, chunks: Iterable[bytes], *, max_bytes: int | None = None, expected_size: int | None = None
) -> BlobInfo:
    """Store bytes as a blob the way a download does: chunk by chunk through the store's writer."""
    with store.blob_writer(max_bytes=max_bytes, expected_size=expected_size) as writer:
        for chunk in chunks:
            writer.write(chunk)
        return writer.commit()


def aws_env(url: str) -> dict[str, str]:
    """The standard AWS_* variables for an S3 API at `url`, with test credentials."""
    return {
        "AWS_ACCESS_KEY_ID": "testing-key-id",
        "AWS_SECRET_ACCESS_KEY": "testing-secret-never-printed",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": url,
    }


def point_aws_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the standard AWS_* variables at `url` (no profile, no shared files, no real account)."""
    for name, value in aws_env(url).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


class S3Server:
    """moto's S3 API served over HTTP on a loopback port, and a boto3 client of it for test oracles.

    One request at a time (werkzeug without threads): moto checks a condition and then writes
    without a lock, so a threaded server would let two conditional creates both win, which is
    exactly what the reconciler must never see. `honour_conditions = False` makes it behave like
    a service that ignores If-None-Match / If-Match (to test that such a server is refused).
    """

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import WSGIRequestHandler, make_server

        class Quiet(WSGIRequestHandler):
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        self.honour_conditions = True
        app = DomainDispatcherApplication(create_backend_app)

        self.requests: list[tuple[str, str]] = []  # (method, path?query) of every request served

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            query = environ.get("QUERY_STRING", "")
            self.requests.append((environ["REQUEST_METHOD"], environ["PATH_INFO"] + (f"?{query}" if query else "")))
            if not self.honour_conditions:
                environ.pop("HTTP_IF_NONE_MATCH", None)
                environ.pop("HTTP_IF_MATCH", None)
            return app(environ, start_response)

        self._server = make_server("127.0.0.1", 0, wsgi, threaded=False, request_handler=Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._count = 0

    def env(self) -> dict[str, str]:
        return aws_env(self.url)

    def client(self) -> Any:
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=env["AWS_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    def new_bucket(self) -> str:
        self._count += 1
        name = f"videos-{os.getpid()}-{self._count}"
        self.client().create_bucket(Bucket=name)
        return name

    def names(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object name in the bucket under `prefix` (the oracle: the server's own listing)."""
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", ())
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join()


@pytest.fixture
def endless(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Start an EndlessBucket (tests/hostile/hosts.py) with the AWS_* variables pointing at it."""
    from contextlib import ExitStack

    from tests.hostile.hosts import EndlessBucket, serve

    with ExitStack() as stack:

        def _start(token: str, *, per_page: int = 1) -> EndlessBucket:
            host = EndlessBucket(token=token, per_page=per_page)
            point_aws_at(stack.enter_context(serve(host.app())), monkeypatch)
            return host

        yield _start


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """The S3 server with the standard AWS_* variables pointing at it (no profile, no real account)."""
    point_aws_at(s3_server.url, monkeypatch)
    s3_server.honour_conditions = True
    yield s3_server
    s3_server.honour_conditions = True
