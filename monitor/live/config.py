"""Settings of the live updates, from the Flask config with the plugin's settings as defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from regiq_tasks.config import Settings
from regiq_tasks.errors import ConfigurationError

DEFAULT_TICK = 0.025  # s: the relay emits per room at most once per tick
DEFAULT_METRICS_INTERVAL = 2.0  # s between two `metrics` events
DEFAULT_HEALTH_INTERVAL = 10.0  # s between two `health` events
DEFAULT_LEASE_TTL = 5.0  # s: a relay that stops renewing is replaced after this
ROOM_REFRESH = 2.0  # s: each monitor re-announces its subscribed rooms this often
ROOM_TTL = 10.0  # s: a room not re-announced this long counts as empty
DEFAULT_TOKEN_RECHECK = 2.0  # s between two checks of the open connections' tokens
RELAY_MODES = ("auto", "on", "off")  # auto: start with the first client or `serve()`


@dataclass(frozen=True)
class LiveConfig:
    """How the monitor relays the event stream to Socket.IO clients."""

    message_queue: str | None
    channel: str
    tick: float = DEFAULT_TICK
    max_rate: float = 10.0
    metrics_interval: float = DEFAULT_METRICS_INTERVAL
    health_interval: float = DEFAULT_HEALTH_INTERVAL
    lease_ttl: float = DEFAULT_LEASE_TTL
    relay: str = "auto"
    token_recheck: float = DEFAULT_TOKEN_RECHECK

    @classmethod
    def from_config(cls, config: Mapping[str, Any], settings: Settings,
                    channel: str) -> LiveConfig:
        """Read ``SOCKETIO_MESSAGE_QUEUE`` and ``REGIQ_LIVE_*`` from a Flask config."""
        queue = config.get("SOCKETIO_MESSAGE_QUEUE", settings.redis_url) or None
        live = cls(queue, channel,
                   tick=_positive(config, "REGIQ_LIVE_TICK", DEFAULT_TICK),
                   max_rate=_positive(config, "REGIQ_LIVE_MAX_RATE", settings.live_max_rate),
                   metrics_interval=_positive(config, "REGIQ_LIVE_METRICS_INTERVAL",
                                              DEFAULT_METRICS_INTERVAL),
                   health_interval=_positive(config, "REGIQ_LIVE_HEALTH_INTERVAL",
                                             DEFAULT_HEALTH_INTERVAL),
                   lease_ttl=_positive(config, "REGIQ_LIVE_LEASE_TTL", DEFAULT_LEASE_TTL),
                   relay=str(config.get("REGIQ_LIVE_RELAY", "auto")),
                   token_recheck=_positive(config, "REGIQ_LIVE_TOKEN_RECHECK",
                                           DEFAULT_TOKEN_RECHECK))
        if live.relay not in RELAY_MODES:
            raise ConfigurationError(f"REGIQ_LIVE_RELAY: expected one of {RELAY_MODES}, "
                                     f"got {live.relay!r}")
        return live


def _positive(config: Mapping[str, Any], name: str, default: float) -> float:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name}: expected a number > 0, got {value!r}")
    return float(value)
