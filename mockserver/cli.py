"""`mockserver`: run the fake Segmind API with uvicorn.

The first line on stdout is always

    mockserver listening on http://HOST:PORT (api key: KEY[, KEY...])

so scripts and tests can start it with `--port 0` (a free port) and read the real URL back.
Options override `--config FILE` (JSON or YAML, the shape of `GET /_mock/config`), which overrides
the defaults.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError

from mockserver.app import create_app
from mockserver.clock import RealClock, VirtualClock
from mockserver.config import ClockMode, FaultKind, MockConfig, Phase
from mockserver.serving import listen, server, url_of


def build_config(
    *,
    config_file: Path | None,
    api_keys: tuple[str, ...],
    credits: float | None,
    rate_limit: float | None,
    time_scale: float | None,
    retention: float | None,
    block: tuple[str, ...],
    seed: int | None,
    fault_rate: float | None,
    failure_rate: float | None = None,
    failure_error: str | None = None,
) -> MockConfig:
    """The configuration the options describe; raises click.UsageError for a bad one."""
    patch: dict[str, Any] = {}
    if config_file is not None:
        text = config_file.read_text(encoding="utf-8")
        loaded = json.loads(text) if config_file.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(loaded, dict):
            raise click.UsageError(f"{config_file}: expected a mapping of configuration fields")
        patch = loaded
    try:
        config = MockConfig().merged(patch)
        overrides: dict[str, Any] = {}
        if api_keys or credits is not None:
            keys = api_keys or tuple(config.keys)
            overrides["keys"] = {k: credits if credits is not None else config.keys.get(k, 1000.0) for k in keys}
        if rate_limit is not None:
            overrides["rate_limit"] = {"per_minute": rate_limit}
        if time_scale is not None:
            overrides["time_scale"] = time_scale
        if retention is not None:
            overrides["retention_s"] = retention
        if block:
            overrides["block_list"] = list(block)
        if seed is not None:
            overrides["seed"] = seed
        if failure_rate is not None:
            overrides["failure_rate"] = failure_rate
        if failure_error is not None:
            overrides["failure_error"] = failure_error
        if fault_rate is not None and fault_rate > 0:
            share = fault_rate / len(FaultKind)
            spread = {kind.value: share for kind in FaultKind}
            overrides["faults"] = [{"probabilities": spread, "phase": Phase.EITHER.value}]
        # Keys are replaced, not merged, so --api-key gives exactly the keys named.
        merged = config.merged({k: v for k, v in overrides.items() if k != "keys"})
        if "keys" in overrides:
            merged = MockConfig.model_validate({**merged.to_json(), "keys": overrides["keys"]})
    except ValidationError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from None
    return merged


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--api-key", "api_keys", multiple=True, help="An accepted key (repeatable). [default: mock-key]")
@click.option("--credits", type=click.FloatRange(min=0), help="Starting credits of every key, in USD. [default: 1000]")
@click.option("--rate-limit", type=click.FloatRange(min=0, min_open=True), help="Requests per minute per key.")
@click.option("--time-scale", type=click.FloatRange(min=0), help="Job time = model latency x this. [default: 0.01]")
@click.option("--retention", type=click.FloatRange(min=0), help="Seconds results stay readable. [default: 3600]")
@click.option("--block", multiple=True, help="A prompt word that gets a job blocked (repeatable). [default: nsfw]")
@click.option("--seed", type=int, help="Seed of ids, timings and faults. [default: 0]")
@click.option(
    "--fault-rate",
    type=click.FloatRange(0, 1),
    help="Probability of a fault, spread over all kinds (on submits, before or after the job is created).",
)
@click.option("--failure-rate", type=click.FloatRange(0, 1), help="Share of jobs that fail. [default: 0]")
@click.option(
    "--failure-error",
    help="The error text of jobs failing through --failure-rate (try a moderation refusal, or a crash).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON or YAML configuration, the shape of GET /_mock/config; options override it.",
)
@click.option(
    "--clock",
    type=click.Choice([m.value for m in ClockMode]),
    default=ClockMode.REAL.value,
    show_default=True,
    help="How time passes; POST /_mock/clock can switch it later.",
)
@click.option("--log-level", default="warning", show_default=True, help="uvicorn's log level (on stderr).")
def command(
    *,
    host: str,
    port: int,
    api_keys: tuple[str, ...],
    credits: float | None,
    rate_limit: float | None,
    time_scale: float | None,
    retention: float | None,
    block: tuple[str, ...],
    seed: int | None,
    fault_rate: float | None,
    failure_rate: float | None,
    failure_error: str | None,
    config_file: Path | None,
    clock: str,
    log_level: str,
) -> None:
    """Run a fake of the Segmind serverless API for the Wan video models."""
    config = build_config(
        config_file=config_file,
        api_keys=api_keys,
        credits=credits,
        rate_limit=rate_limit,
        time_scale=time_scale,
        retention=retention,
        block=block,
        seed=seed,
        fault_rate=fault_rate,
        failure_rate=failure_rate,
        failure_error=failure_error,
    )
    real = RealClock()
    server_clock = VirtualClock.following(real)
    server_clock.set_mode(ClockMode(clock))
    app = create_app(config, server_clock)
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    keys = ", ".join(config.keys) or "none"
    click.echo(f"mockserver listening on {url_of(sock)} (api key: {keys})")
    sys.stdout.flush()
    try:
        server(app, log_level=log_level).run(sockets=[sock])
    finally:
        sock.close()


def main() -> None:
    command(prog_name="mockserver")
