"""The delay before the next Azure attempt grows exponentially up to a cap, jittered over the whole interval."""

from __future__ import annotations

import pytest

from fabrikam.operator.azure.backoff import retry_delay


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 15.0), (1, 30.0), (2, 60.0), (3, 120.0), (5, 480.0), (6, 600.0), (40, 600.0), (10_000, 600.0)],
)
def test_the_interval_doubles_per_attempt_up_to_the_cap(attempt: int, ceiling: float) -> None:
    highest = retry_delay(attempt, base=15.0, cap=600.0, rand=lambda: 1.0)
    middle = retry_delay(attempt, base=15.0, cap=600.0, rand=lambda: 0.5)

    assert highest == ceiling
    assert middle == ceiling / 2


def test_a_draw_near_zero_still_waits_the_floor() -> None:
    assert retry_delay(3, base=15.0, cap=600.0, rand=lambda: 0.0) == 1.0
    assert retry_delay(3, base=15.0, cap=600.0, floor=5.0, rand=lambda: 0.01) == 5.0


def test_a_negative_attempt_counts_as_the_first() -> None:
    assert retry_delay(-3, base=15.0, cap=600.0, rand=lambda: 1.0) == 15.0


def test_real_draws_stay_within_the_floor_and_the_interval() -> None:
    delays = [retry_delay(4, base=15.0, cap=600.0) for _ in range(2000)]

    assert all(1.0 <= d <= 240.0 for d in delays)
    # Spread over the interval, not bunched: objects that failed together come back apart.
    assert min(delays) < 60.0
    assert max(delays) > 180.0
