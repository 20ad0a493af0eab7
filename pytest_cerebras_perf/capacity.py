"""How many requests the client must be able to hold in flight, so that it never queues them itself.

A closed loop at concurrency C has exactly C in flight (plus spare connections for retries). An
open loop (``--request-rate R``) has as many as arrive while others are still streaming: by
Little's law R × W on average for a latency W, and Poisson arrivals scatter around that mean by
about its square root. Sized at C + 2, a 20/s loop of 0.5 s requests (10 in flight, often 16)
queued arrivals for a socket, and the self-check then blamed the client: the pool, not the CPU,
was the bottleneck. The latency is observed on the scenario itself (a probe after warmup), with
headroom for the slowdown that load brings.
"""

from __future__ import annotations

import math

SPARE = 2  # connections beyond the load, for retries and a request still closing
LOAD_HEADROOM = 1.5  # latency under load vs. a probe's latency alone
POISSON_SPREAD = 4.0  # standard deviations of Poisson arrivals above the mean (≈ 1 in 30,000 above)


def in_flight_capacity(concurrency: int, request_rate: float | None = None, latency: float | None = None) -> int:
    """Connections to allow: C + spare for a closed loop; for an open loop Little's law at the
    observed latency (with headroom) plus the Poisson spread, never fewer than the closed loop's."""
    closed = concurrency + SPARE
    if request_rate is None or latency is None:
        return closed
    mean = request_rate * latency * LOAD_HEADROOM
    return max(closed, math.ceil(mean + POISSON_SPREAD * math.sqrt(mean)) + SPARE)
