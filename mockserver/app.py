"""`create_app(config, clock)`: one fake Segmind API as a Starlette app, with its own state.

The app is built by this factory and never kept in a module global, so a test can run many fakes
side by side, each with its own clock, jobs and journal:

    app = create_app(MockConfig(), VirtualClock())
    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://mock")

Pass a `VirtualClock` to control time (tests), or any other `Clock` such as `RealClock` (the
command line) to let it pass with the wall clock; either way `POST /_mock/clock` can advance it and switch its mode.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as Path

from mockserver.api import PublicApi
from mockserver.clock import Clock, VirtualClock
from mockserver.config import MockConfig, Route
from mockserver.control import Control
from mockserver.files import Files
from mockserver.gateway import guarded
from mockserver.openapi import document
from mockserver.serverdate import ServerDate
from mockserver.state import MockState


def create_app(config: MockConfig | None = None, clock: Clock | None = None) -> Starlette:
    """A new fake server; `config` defaults to `MockConfig()`, `clock` to a fresh `VirtualClock`."""
    if clock is None:
        clock = VirtualClock()
    elif not isinstance(clock, VirtualClock):
        clock = VirtualClock.following(clock)
    state = MockState(config=config or MockConfig(), clock=clock)
    api, files, control = PublicApi(state=state), Files(state=state), Control(state=state)

    def slug(request: Request) -> str | None:
        return request.path_params.get("slug")

    def job_model(request: Request) -> str | None:
        job = state.jobs.get(request.path_params.get("request_id", ""))
        return None if job is None else job.model

    def file_model(request: Request) -> str | None:
        return files.model_of(request.path_params.get("name", ""))

    openapi = document()

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    routes = [
        Path("/v1/{slug}", guarded(state, Route.SYNC, api.run_sync, model_of=slug), methods=["POST"]),
        Path(
            "/v2/requests/{request_id}/status",
            guarded(state, Route.STATUS, api.status, model_of=job_model),
            methods=["GET"],
        ),
        Path(
            "/v2/requests/{request_id}",
            guarded(state, Route.RESULT, api.result, model_of=job_model),
            methods=["GET"],
        ),
        Path("/v2/{slug}", guarded(state, Route.SUBMIT, api.submit, model_of=slug), methods=["POST"]),
        Path(
            "/inference-request/request-history",
            guarded(state, Route.HISTORY, api.history),
            methods=["GET"],
        ),
        Path(
            "/inference-request/request-history/{request_id}",
            guarded(state, Route.HISTORY, api.history_item, model_of=job_model),
            methods=["GET"],
        ),
        Path("/upload-asset", guarded(state, Route.UPLOAD, api.upload), methods=["POST"]),
        Path(
            "/files/{name}",
            guarded(state, Route.FILES, files.serve, keyed=False, model_of=file_model),
            methods=["GET", "HEAD"],
        ),
        Path("/openapi.json", openapi_json, methods=["GET"]),
        Path("/_mock/journal", control.journal, methods=["GET"]),
        Path("/_mock/jobs", control.jobs, methods=["GET"]),
        Path("/_mock/clock", control.get_clock, methods=["GET"]),
        Path("/_mock/clock", control.set_clock, methods=["POST"]),
        Path("/_mock/config", control.get_config, methods=["GET"]),
        Path("/_mock/config", control.put_config, methods=["PUT"]),
        Path("/_mock/credits", control.credits, methods=["GET"]),
        Path("/_mock/credits", control.top_up, methods=["POST"]),
        Path("/_mock/reset", control.reset, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error},
        middleware=[Middleware(ServerDate, clock=clock)],
    )
    app.state.mock = state
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer like every other error: JSON with an `error` message."""
    assert isinstance(exc, HTTPException)
    message = f"{exc.detail}: {request.method} {request.url.path}"
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)
