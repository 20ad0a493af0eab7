"""How long the "model" thinks: reasoning tokens per request, drawn from the profile's distribution.

A reasoning profile maps each ``reasoning_effort`` it accepts to a mean count of reasoning tokens;
each request draws its count from a log-normal with that mean and ``reasoning_sigma`` (0 = always
the mean), from an RNG fixed by (profile seed, request number), so a run is reproducible and a
change of effort moves the whole distribution. The reasoning tokens stream before the content, as
``delta.reasoning``, and count in ``usage.completion_tokens``.
"""

from __future__ import annotations

import math
import random

from .profile import Profile
from .request_body import BadRequest, GenerationRequest


def reasoning_effort(profile: Profile, body: GenerationRequest) -> str | None:
    """The effort in force (None for a model that does not reason); raises :class:`BadRequest`
    (a 400 naming ``reasoning_effort``) for an effort the model does not offer."""
    efforts = profile.reasoning_tokens
    if not efforts:
        return body.reasoning_effort
    effort = body.reasoning_effort or profile.default_reasoning_effort
    if effort is None:
        raise BadRequest("'reasoning_effort' is required by this model", "reasoning_effort")
    if effort not in efforts:
        known = ", ".join(efforts)
        raise BadRequest(
            f"'reasoning_effort' must be one of {known} for {body.model}, got {effort!r}", "reasoning_effort"
        )
    return effort


def draw_reasoning_tokens(profile: Profile, effort: str | None, disabled: bool, request_number: int) -> int:
    mean = profile.reasoning_tokens.get(effort or "", 0.0)
    if disabled or mean <= 0:
        return 0
    sigma = profile.reasoning_sigma
    rng = random.Random(f"{profile.seed}:{request_number}:reasoning")
    drawn = rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma) if sigma else mean
    return max(1, round(drawn))
