"""How long to wait before the next Azure pass of an object that is still provisioning or failed transiently.

Exponential, so a long outage or sustained throttling costs fewer and fewer calls, with full jitter ("Exponential
Backoff And Jitter", AWS Architecture Blog): objects that failed together (an outage, a burst of 429s) come back
spread over the whole interval instead of as the same burst that was throttled.
"""

from __future__ import annotations

import random
from collections.abc import Callable

# 2**32 times any sensible base is past every cap; the bound only keeps the arithmetic finite.
_MAX_EXPONENT = 32


def retry_delay(
    attempt: int, *, base: float, cap: float, floor: float = 1.0, rand: Callable[[], float] = random.random
) -> float:
    """Seconds before retry number `attempt` (0 for the first): a uniform draw in [0, min(cap, base * 2**attempt)],
    never below `floor`, which keeps a requeue from becoming a busy loop when the draw is close to zero."""
    ceiling: float = min(cap, base * 2.0 ** min(max(attempt, 0), _MAX_EXPONENT))
    return max(floor, ceiling * rand())
