"""Stream limits (``gateway.transport.streams``): the configuration, the counting and the reaper's
decisions,
driven by a settable clock. The live behaviour is in tests/security/test_stream_exhaustion.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from attestgate.gateway.ops.config import ConfigError, GatewayConfig, load_config
from attestgate.gateway.transport.serving import admission
from attestgate.gateway.transport.streams import END_GRACE, StreamLimiter, StreamLimits, peer_host
from attestgate.protocol.reasons import DomainError, Reason


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CallContext:
    """Stands in for grpc's servicer context: records being cancelled."""

    def __init__(self) -> None:
        self.cancelled = 0

    def cancel(self) -> None:
        self.cancelled += 1


def limits(**changes: object) -> StreamLimits:
    values: dict[str, object] = {
        "total": 4, "per_caller": 2, "anonymous": 2, "max_lifetime": 10.0, "idle_timeout": 1.0
    }  # fmt: skip
    values.update(changes)
    return StreamLimits(**values)  # type: ignore[arg-type]


def refusal(limiter: StreamLimiter, key: str, *, anonymous: bool = False) -> dict[str, str]:
    with pytest.raises(DomainError) as caught:
        limiter.acquire(key, anonymous=anonymous, reads_client=False, context=CallContext())
    assert caught.value.reason is Reason.TOO_MANY_STREAMS
    return dict(caught.value.metadata)


def test_the_defaults_keep_half_the_workers_for_unary_calls() -> None:
    default = StreamLimits.from_config(GatewayConfig())
    assert (default.total, default.per_caller, default.anonymous) == (16, 4, 4)
    assert (default.max_lifetime, default.idle_timeout) == (1800.0, 60.0)
    small = StreamLimits.from_config(GatewayConfig(max_workers=6))
    assert (small.total, small.per_caller, small.anonymous) == (3, 3, 3)


def test_a_stream_limit_that_could_take_every_worker_is_refused(tmp_path: Path) -> None:
    assert StreamLimits.from_config(GatewayConfig(max_streams=24)).total == 24  # 32 - 32 // 4
    with pytest.raises(ConfigError, match=r"max_streams = 25 .* at most 24 or raise max_workers"):
        admission(GatewayConfig(max_streams=25))
    with pytest.raises(ConfigError, match=r"max_streams = 2 .* at most 1"):
        StreamLimits.from_config(GatewayConfig(max_workers=2, max_streams=2))
    with pytest.raises(ConfigError, match="stream_max_lifetime and stream_idle_timeout"):
        StreamLimits.from_config(GatewayConfig(stream_idle_timeout=timedelta(0)))
    config = tmp_path / "config.toml"
    config.write_text('max_streams = 8\nstream_max_lifetime = "5m"\nstream_idle_timeout = "20s"\n')
    loaded = StreamLimits.from_config(load_config(config))
    assert (loaded.total, loaded.max_lifetime, loaded.idle_timeout) == (8, 300.0, 20.0)
    config.write_text("max_streams_per_caller = 0\n")
    with pytest.raises(ConfigError, match="bad value for 'max_streams_per_caller'"):
        load_config(config)


def test_peer_host_drops_the_port() -> None:
    assert peer_host("ipv4:10.0.0.1:5555") == "ipv4:10.0.0.1"
    assert peer_host("ipv6:[::1]:5555") == "ipv6:[::1]"
    assert peer_host("unix:/run/attestgate.sock") == "unix:/run/attestgate.sock"


def test_limits_per_caller_anonymous_and_total_and_slots_come_back() -> None:
    limiter = StreamLimiter(limits())
    ctx = CallContext()
    a1 = limiter.acquire("bank a", anonymous=False, reads_client=False, context=ctx)
    limiter.acquire("bank a", anonymous=False, reads_client=False, context=ctx)
    assert refusal(limiter, "bank a") == {"scope": "caller", "limit": "2"}
    limiter.acquire("peer ipv4:1", anonymous=True, reads_client=True, context=ctx)
    limiter.acquire("peer ipv4:2", anonymous=True, reads_client=True, context=ctx)
    assert refusal(limiter, "bank b") == {"scope": "gateway", "limit": "4"}
    limiter.release(a1)
    limiter.release(a1)  # idempotent
    assert limiter.in_use() == 3
    assert refusal(limiter, "peer ipv4:3", anonymous=True) == {"scope": "anonymous", "limit": "2"}
    limiter.acquire("bank a", anonymous=False, reads_client=False, context=ctx)
    assert limiter.in_use() == 4


def test_the_reaper_closes_idle_readers_and_old_streams() -> None:
    clock = Clock()
    limiter = StreamLimiter(limits(), now=clock)
    reader_ctx, watch_ctx = CallContext(), CallContext()
    reader = limiter.acquire("peer a", anonymous=True, reads_client=True, context=reader_ctx)
    watch = limiter.acquire("bank a", anonymous=False, reads_client=False, context=watch_ctx)

    clock.now += 0.9
    limiter.touch(reader)  # a request arrived: not idle
    clock.now += 0.9
    limiter.sweep()
    assert reader_ctx.cancelled == 0
    clock.now += 0.2  # 1.1 s without a message
    limiter.sweep()
    assert reader_ctx.cancelled == 1
    assert reader.closed

    clock.now = 100.0 + 10.0  # the watch's lifetime: it is told to end, not cut off
    limiter.sweep()
    assert watch.expired
    assert watch_ctx.cancelled == 0
    clock.now += END_GRACE  # still running after the grace: closed
    limiter.sweep()
    limiter.sweep()
    assert watch_ctx.cancelled == 1


def test_the_documented_stream_settings_load(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[3] / "docs" / "scaling-out.md").read_text()
    section = page.split("### Streams", 1)[1]
    snippet = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "config.toml"
    config.write_text(snippet)
    loaded = StreamLimits.from_config(load_config(config))
    assert loaded == StreamLimits(16, 4, 4, max_lifetime=1800.0, idle_timeout=60.0)
