"""Faults as a client sees them over a real socket: cut connections, broken bodies, error statuses."""

from __future__ import annotations

import httpx
import pytest
from segmind import SegmindClient, SegmindError

pytestmark = pytest.mark.slow  # a real uvicorn socket per test


def test_a_dropped_connection_is_a_remote_protocol_error_over_a_socket(live_server):
    live = live_server(faults=[{"route": "submit", "script": ["drop"], "phase": "after"}])
    with httpx.Client(base_url=live.url, headers={"x-api-key": "mock-key"}) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/v2/wan-2.2-t2v-fast", json={"prompt": "x"})
        jobs = http.get("/_mock/jobs").json()["jobs"]
        assert len(jobs) == 1, "the job exists though the client never heard of it"
        assert http.get(f"/v2/requests/{jobs[0]['id']}/status").status_code == 200


def test_a_truncated_body_arrives_cleanly_framed_but_is_not_json(live_server):
    live = live_server(faults=[{"route": "history", "script": ["truncate"]}])
    with httpx.Client(base_url=live.url, headers={"x-api-key": "mock-key"}) as http:
        response = http.get("/inference-request/request-history")
        assert response.status_code == 200
        assert len(response.content) == int(response.headers["content-length"])
        with pytest.raises(ValueError, match=r"Unterminated|Expecting"):
            response.json()


def test_the_official_client_reports_a_server_error_fault_with_its_status(live_server):
    live = live_server(faults=[{"route": "submit", "script": ["502"]}])
    client = SegmindClient(api_key="mock-key", base_url=f"{live.url}/v1")
    try:
        with pytest.raises(SegmindError) as failure:
            client.submit_async("wan-2.2-t2v-fast", prompt="x")
    finally:
        client._client.close()
    assert failure.value.status == 502
    assert "simulated fault" in failure.value.detail
