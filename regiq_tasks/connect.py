"""The tracking Redis client from ``REGIQ_REDIS_URL``: one Redis, or a Sentinel service.

A Sentinel URL has python-socketio's form, so the monitors' message queue can take the
same URL: ``redis+sentinel://[[user]:password@]host1:port1,host2:port2[/db[/service]]``
(db 0 and service ``mymaster`` by default). The client asks the sentinels for the
primary on every new connection, so after a failover the next command that fails is
retried by its caller (the writer's queue, the archiver, the relay) against the
promoted replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
from redis.sentinel import Sentinel

from regiq_tasks.errors import ConfigurationError

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SERVICE = "mymaster"


@dataclass(frozen=True)
class SentinelURL:
    """The parts of a ``redis+sentinel://`` URL."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SentinelURL:
        """Parse ``url``; ConfigurationError naming what is wrong."""
        parts = urlsplit(url)
        if parts.scheme != SENTINEL_SCHEME:
            raise ConfigurationError(f"REGIQ_REDIS_URL: not a {SENTINEL_SCHEME}:// URL")
        credentials, _, hosts = parts.netloc.rpartition("@")
        sentinels = []
        for host in filter(None, hosts.split(",")):
            name, _, port = host.rpartition(":")
            if not name or not port.isdigit():
                raise ConfigurationError(
                    f"REGIQ_REDIS_URL: sentinel {host!r} is not host:port")
            sentinels.append((name.strip("[]"), int(port)))
        if not sentinels:
            raise ConfigurationError("REGIQ_REDIS_URL: a Sentinel URL needs host:port of at "
                                     "least one sentinel")
        path = [p for p in parts.path.split("/") if p]
        if len(path) > 2 or (path and not path[0].isdigit()):
            raise ConfigurationError("REGIQ_REDIS_URL: the path of a Sentinel URL is "
                                     "/<db>/<service> (e.g. /0/mymaster)")
        user, _, password = credentials.partition(":")
        return cls(tuple(sentinels), path[1] if len(path) > 1 else DEFAULT_SERVICE,
                   int(path[0]) if path else 0, unquote(user) or None,
                   unquote(password) or None)

    def kombu_url(self) -> str:
        """The same service as kombu's broker/result-backend URL (``sentinel://a;...``);
        the service name goes in the transport options' ``master_name``."""
        auth = ""
        if self.password:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password, safe='')}@"
        return ";".join(f"sentinel://{auth}{f'[{host}]' if ':' in host else host}:{port}"
                        f"/{self.db}" for host, port in self.sentinels)


def is_sentinel(url: str) -> bool:
    """True for a ``redis+sentinel://`` URL."""
    return url.startswith(SENTINEL_SCHEME + "://")


def redis_client(url: str, timeout: float, **options: Any) -> redis.Redis:
    """A client of the Redis at ``url``, or of the primary a Sentinel URL names."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, socket_timeout=timeout,
                                    socket_connect_timeout=timeout, **options)
    parsed = SentinelURL.parse(url)
    sentinel = Sentinel(list(parsed.sentinels), socket_timeout=timeout,
                        socket_connect_timeout=timeout)
    return sentinel.master_for(parsed.service, db=parsed.db, username=parsed.username,
                               password=parsed.password, socket_timeout=timeout,
                               socket_connect_timeout=timeout, **options)
