"""Database pool gauges, read from each service's SQLAlchemy pools when Prometheus scrapes.

``cornerstone_db_pool_connections{service,state="checked_out"|"idle"}`` and
``cornerstone_db_pool_max_connections{service}``. Nothing is updated per query: the collector asks
each tracked ``Database`` for its ``pool_stats()`` at collection time, which only reads counters.

One collector is registered on the default registry for the whole process; each app's lifespan
tracks its ``Database`` at startup (``track_pool``) and stops tracking it at shutdown. Registering
a collector per app instead would make a second app in the same process (tests build many; an
in-process kernel and BFF would be two) fail with a duplicated family. Databases of one service
tracked at once are summed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cornerstone.kit.db import Database
from cornerstone.kit.metrics import DB_POOL_CONNECTIONS, DB_POOL_MAX_CONNECTIONS

_CONNECTIONS_HELP = "Database connections of a service's pools: checked out (in use) or idle in the pool."
_MAX_HELP = "The most connections a service's database pools may open (pool size plus overflow)."


class PoolCollector(Collector):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tracked: dict[int, tuple[str, Database]] = {}

    def track(self, service: str, database: Database) -> Callable[[], None]:
        key = id(database)
        with self._lock:
            self._tracked[key] = (service, database)

        def untrack() -> None:
            with self._lock:
                self._tracked.pop(key, None)

        return untrack

    def describe(self) -> Iterable[Metric]:
        # The names only, so registering does not read any pool.
        return [
            GaugeMetricFamily(DB_POOL_CONNECTIONS, _CONNECTIONS_HELP, labels=["service", "state"]),
            GaugeMetricFamily(DB_POOL_MAX_CONNECTIONS, _MAX_HELP, labels=["service"]),
        ]

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            tracked = list(self._tracked.values())
        in_use: dict[str, int] = {}
        idle: dict[str, int] = {}
        bound: dict[str, int | None] = {}
        for service, database in tracked:
            stats = database.pool_stats()
            in_use[service] = in_use.get(service, 0) + stats.checked_out
            idle[service] = idle.get(service, 0) + stats.idle
            previous = bound.get(service, 0)
            bound[service] = (
                None if previous is None or stats.max_connections is None else previous + stats.max_connections
            )
        connections = GaugeMetricFamily(DB_POOL_CONNECTIONS, _CONNECTIONS_HELP, labels=["service", "state"])
        maximum = GaugeMetricFamily(DB_POOL_MAX_CONNECTIONS, _MAX_HELP, labels=["service"])
        for service in sorted(in_use):
            connections.add_metric([service, "checked_out"], in_use[service])
            connections.add_metric([service, "idle"], idle[service])
            limit = bound[service]
            if limit is not None:
                maximum.add_metric([service], limit)
        return [connections, maximum]


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def track_pool(service: str, database: Database) -> Callable[[], None]:
    """Export ``database``'s pools under ``service`` until the returned function is called."""
    return POOLS.track(service, database)
