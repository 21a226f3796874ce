"""The latest state of each drone in Redis; an older or repeated report never overwrites a newer one."""

from typing import Any

from redis.asyncio import Redis

from fabrikam.workloads.contracts import FROM_PEERS
from fabrikam.workloads.telemetry.models import TelemetryReport

PREFIX = "telemetry:drone:"
STATE_TTL_SECONDS = 7 * 86_400

# Writes only when the report is newer than the stored one; answers 1 when it wrote.
_PUT_IF_NEWER = """
local stored = tonumber(redis.call('HGET', KEYS[1], 'at') or '-1')
if tonumber(ARGV[1]) <= stored then return 0 end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'state', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class DroneStates:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._put = redis.register_script(_PUT_IF_NEWER)

    async def put_newer(self, reports: list[TelemetryReport]) -> list[TelemetryReport]:
        """Store every report newer than its drone's state (one round trip); returns those stored."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for report in reports:
                millis = int(report.reported_at.timestamp() * 1000)
                state = report.model_dump_json(by_alias=True)
                await self._put(keys=[PREFIX + report.drone_id], args=[millis, state, STATE_TTL_SECONDS], client=pipe)
            written: list[Any] = await pipe.execute()
        return [report for report, wrote in zip(reports, written, strict=True) if wrote]

    async def get(self, drone_id: str) -> TelemetryReport | None:
        state: Any = await self._redis.hget(PREFIX + drone_id, "state")
        return TelemetryReport.model_validate_json(state, context=FROM_PEERS) if state else None
