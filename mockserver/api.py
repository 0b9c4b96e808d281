"""The public routes of the Segmind API, as the fake serves them behind the gateway.

POST /v1/{slug}                             synchronous: waits, answers with the MP4 (or base64)
POST /v2/{slug}                             asynchronous submit: request_id, status_url, response_url
GET  /v2/requests/{id}/status               QUEUED | PROCESSING | COMPLETED | FAILED (422)
GET  /v2/requests/{id}                      the final body: status, output URL, metrics
GET  /inference-request/request-history     the key's requests, filtered and paged
GET  /inference-request/request-history/{id}
POST /upload-asset                          data URLs in, file URLs on this server out
GET|HEAD /files/{name}                      videos and uploads (see files.py), no key needed
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.responses import JSONResponse, Response

from mockserver.gateway import Call, Reply, error
from mockserver.history import BadQuery, query, row
from mockserver.jobs import Api, Job, JobState
from mockserver.state import MockState
from mockserver.uploads import decode_data_url
from reconciler import catalog

MAX_UPLOADS = 20


def _problems_message(problems: list[catalog.Problem]) -> str:
    return "; ".join(p.message + (f" ({p.hint})" if p.hint else "") for p in problems)


class PublicApi:
    """Handlers of the public routes; each returns a Reply naming the job it concerns."""

    def __init__(self, *, state: MockState) -> None:
        self.state = state

    def file_url(self, call: Call, job: Job) -> str:
        return call.url(f"/files/{job.file_name}")

    async def submit(self, call: Call) -> Reply:
        job_or_reply = self._create(call, Api.V2)
        if isinstance(job_or_reply, Reply):
            return job_or_reply
        job = job_or_reply
        body = {
            "request_id": job.id,
            "status": JobState.QUEUED.value,
            "status_url": call.url(f"/v2/requests/{job.id}/status"),
            "response_url": call.url(f"/v2/requests/{job.id}"),
        }
        headers = {"X-Request-Id": job.id, "X-Remaining-Credits": f"{self.state.balance(job.api_key):.6f}"}
        return Reply(JSONResponse(body, headers=headers), job.id, created=True)

    async def run_sync(self, call: Call) -> Reply:
        job_or_reply = self._create(call, Api.V1)
        if isinstance(job_or_reply, Reply):
            return job_or_reply
        job = job_or_reply
        # The request waits out the job; on a virtual clock the wait moves the clock itself.
        await self.state.clock.sleep(job.finished_at - self.state.clock.now())
        if job.outcome is JobState.FAILED:
            failed = {"request_id": job.id, "status": JobState.FAILED.value, "error": job.error}
            return Reply(JSONResponse(failed, status_code=422), job.id, created=True)
        headers = {
            "X-Request-Id": job.id,
            "X-Seed": str(job.seed),
            "X-Cost": f"{job.cost_usd:.6f}",
            "X-Remaining-Credits": f"{self.state.balance(job.api_key):.6f}",
        }
        video = b"".join(self.state.video(job).chunks())
        if job.params.get("base64") is True:
            payload = {
                "request_id": job.id,
                "status": JobState.COMPLETED.value,
                "output": base64.b64encode(video).decode("ascii"),
                "content_type": "video/mp4",
            }
            return Reply(JSONResponse(payload, headers=headers), job.id, created=True)
        return Reply(Response(video, media_type="video/mp4", headers=headers), job.id, created=True)

    def _create(self, call: Call, api: Api) -> Job | Reply:
        slug = call.request.path_params["slug"]
        model = catalog.get(slug)
        if model is None:
            hint = catalog.did_you_mean(slug, list(catalog.SLUGS))
            return Reply(error(404, f"Model {slug!r} not found" + (f" ({hint})" if hint else "") + "."))
        if not isinstance(call.body, dict):
            why = call.body_problem or f"got {catalog.describe_type(call.body)}"
            return Reply(error(400, f"The request body must be a JSON object of parameters ({why})."))
        _, problems = catalog.check(model, call.body, fill_defaults=False)
        if problems:
            return Reply(error(400, _problems_message(problems)))
        params, _ = catalog.check(model, call.body, fill_defaults=True)
        state = self.state
        cost = state.config.cost_usd.get(slug, model.avg_cost_usd)
        balance = state.balance(call.api_key)
        if balance + 1e-9 < cost:
            message = f"Insufficient credits: this request costs ${cost:.3f} and the balance is ${balance:.3f}."
            return Reply(error(406, message))
        job = state.jobs.create(
            model=model,
            api_key=call.api_key,
            api=api,
            body=call.body,
            params=params,
            digest=catalog.request_digest(model, params),
            now=call.now,
            config=state.config,
        )
        state.ledger.charge(job)
        return job

    def _own_job(self, call: Call) -> Job | Reply:
        job_id = call.request.path_params["request_id"]
        job = self.state.jobs.get(job_id)
        # Another account's request is as unknown to this key as one never issued.
        if job is None or job.api_key != call.api_key:
            return Reply(error(404, f"Request {job_id!r} not found."), None)
        if call.now >= job.expires_at(self.state.config.retention_s):
            message = f"Request {job_id!r} not found: its result expired after the retention period."
            return Reply(error(404, message), job.id)
        return job

    async def status(self, call: Call) -> Reply:
        job = self._own_job(call)
        if isinstance(job, Reply):
            return job
        state = job.state_at(call.now)
        body: dict[str, Any] = {"request_id": job.id, "status": state.value}
        if state is JobState.FAILED:
            body["error"] = job.error
            return Reply(JSONResponse(body, status_code=422), job.id)
        return Reply(JSONResponse(body), job.id)

    async def result(self, call: Call) -> Reply:
        job = self._own_job(call)
        if isinstance(job, Reply):
            return job
        state = job.state_at(call.now)
        body: dict[str, Any] = {"request_id": job.id, "status": state.value, "model": job.model}
        if state is JobState.FAILED:
            body["error"] = job.error
            return Reply(JSONResponse(body, status_code=422), job.id)
        if state is not JobState.COMPLETED:
            # Not ready: the real service answers the same way, and no client should treat it as final.
            return Reply(JSONResponse(body, status_code=202), job.id)
        body |= {
            "output": self.file_url(call, job),
            "seed": job.seed,
            "cost": job.cost_usd,
            "metrics": {
                "queue_ms": round((job.started_at - job.submitted_at) * 1000),
                "inference_ms": round((job.finished_at - job.started_at) * 1000),
                "total_ms": round((job.finished_at - job.submitted_at) * 1000),
            },
        }
        return Reply(JSONResponse(body), job.id)

    async def history(self, call: Call) -> Reply:
        own = [job for job in self.state.jobs if job.api_key == call.api_key]
        params = dict(call.request.query_params)
        try:
            page = query(own, params, now=call.now, file_url=lambda job: self.file_url(call, job))
        except BadQuery as exc:
            return Reply(error(400, str(exc)))
        return Reply(JSONResponse(page))

    async def history_item(self, call: Call) -> Reply:
        job_id = call.request.path_params["request_id"]
        job = self.state.jobs.get(job_id)
        if job is None or job.api_key != call.api_key:
            return Reply(error(404, f"Request {job_id!r} not found in this account's history."))
        return Reply(JSONResponse(row(job, now=call.now, file_url=lambda j: self.file_url(call, j))), job.id)

    async def upload(self, call: Call) -> Reply:
        urls = call.body.get("data_urls") if isinstance(call.body, dict) else None
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            return Reply(error(400, 'The body must be {"data_urls": [<base64 data URL>, ...]} with at least one.'))
        if len(urls) > MAX_UPLOADS:
            return Reply(error(400, f"data_urls: at most {MAX_UPLOADS} files per upload."))
        decoded = []
        for text in urls:
            try:
                decoded.append(decode_data_url(text))
            except ValueError as exc:
                return Reply(error(400, f"data_urls: {exc}."))
        # Stored only once all decoded: a rejected upload leaves nothing behind.
        names = [self.state.assets.put(media_type, data).name for media_type, data in decoded]
        body = {"file_urls": [call.url(f"/files/{name}") for name in names], "message": "Files uploaded."}
        return Reply(JSONResponse(body))
