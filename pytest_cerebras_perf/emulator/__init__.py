"""A local Cerebras-compatible inference API with a controllable, self-checking latency model.

The real ``cerebras-cloud-sdk`` cannot tell it from the cloud API: same routes
(``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /v1/models``,
``GET /v1/models/{id}``, ``GET /v1/tcp_warming``), same SSE chunks, error bodies and
``x-ratelimit-*`` headers; like the 2026 API, responses echo the request's ``service_tier``
and report ``time_info.created`` as a float. It is the default target when no API key is configured and the
instrument the plugin measures its own harness against, so it records exactly what it did.

Run it: ``python -m pytest_cerebras_perf.emulator [--host 127.0.0.1] [--port 0] [--profile NAME|FILE]
[--api-key KEY] [--set field=value ...]``; the first stdout line is the URL. From Python:
``EmulatorProcess`` (``process.py``).

Profile fields (YAML; a file may say ``base: <built-in>`` and override any field; times in
seconds, rates in tokens/s). Built-ins: ``cerebras-gpt-oss-120b`` (the default: a reasoning
model at ~3,000 tok/s), ``cerebras-qwen-3.8-27b`` (~1,850 tok/s, effort none..high),
``cerebras-llama-3.3-70b`` (retired; the original study's published figures), ``fast`` (tests),
``capacity-limited`` (2,000 tok/s per stream, 8,000 tok/s shared).

  models                    model ids served; any other id gets a 404 ``model_not_found``
  seed                      fixes text (with the request's ``seed`` and prompt) and latency draws
  server_overhead           time from arrival to entering the queue (in ``total_time`` only)
  queue_time                mean queue wait (exponential); ``queue_spike_probability`` of requests
                            wait uniformly between ``queue_spike_min`` and ``queue_spike_max`` instead
  ttft_base, prompt_tps     prompt phase = (ttft_base + prompt_tokens / prompt_tps) × jitter
  decode_tps                decode speed of one stream
  capacity_tps              aggregate decode budget shared by streams decoding at once (null =
                            unlimited): each gets min(decode_tps, capacity_tps / active_streams)
  tokens_per_chunk          tokens per SSE content (or reasoning) chunk
  reasoning_tokens          reasoning_effort -> mean reasoning tokens (empty: the model does not
                            reason); each request draws a log-normal count with ``reasoning_sigma``,
                            streamed as ``delta.reasoning`` before the content and counted in
                            ``usage.completion_tokens`` and ``completion_tokens_details``; an effort
                            not listed is a 400; ``disable_reasoning: true`` in a request skips it
  default_reasoning_effort  the effort of a request that names none
  retired                   the model is no longer served by Cerebras (kept to reproduce a study)
  jitter_sigma              sigma of a mean-1 log-normal factor on the prompt phase and each chunk
  default_output_tokens     answer length when min/max tokens do not decide it
  requests_per_minute, requests_per_day, tokens_per_minute, tokens_per_day
                            token buckets (continuous refill; a request reserves prompt + max tokens)
  retry_after_header        send ``retry-after`` (seconds until the bucket admits) with 429s
  behind_schedule_fraction, behind_schedule_min
                            a step later than max(min, fraction × its offset from arrival) marks
                            the response as behind schedule (the emulator, not the model, was slow)
  faults                    fault rules (below)
  drift_tau                 session drift: every emulator start draws one factor exp(N(0, drift_tau²))
                            that multiplies every delay (0 = none; 0.05 in cerebras-llama-3.3-70b)
  drift_seed                fixes that draw (null = a fresh draw from OS entropy at each start)
  slowdowns                 ``[{"match": text, "prompt": f, "decode": f}]``: requests whose prompt
                            contains ``match`` take f× as long for that phase (a regression of one
                            scenario only; the first matching rule applies)

Fault rule: ``{"kind", "at": [n, ...], "every": k, "probability": p, "after_chunks": k,
"delay": s, "retry_after": s}``; kinds ``http_500``, ``http_503``, ``rate_limit_rpm``,
``rate_limit_tpm``, ``rate_limit_tpd``, ``stream_error`` (error event in a 200 stream after k
chunks), ``drop`` (TCP reset after k chunks; 0 = before any byte), ``hang`` (no answer until the
client leaves), ``slow_first_byte`` (delay before the response starts). Request numbers count
generation requests from 1 since the rules were set or the server reset; a rule without ``at``,
``every`` or ``probability`` hits every request. A non-streaming ``drop`` always strikes before
any byte.

Admin API (JSON, no key):

  GET/POST /_emulator/faults    POST ``{"faults": [...]}`` replaces the rules
  GET/POST /_emulator/profile   POST a partial profile; returns the effective one (a POST with
                                ``drift_tau`` or ``drift_seed`` draws a new drift factor)
  GET/POST /_emulator/drift     this start's drift ``{tau, seed, factor, source}``; POST
                                ``{"factor": f}`` imposes a factor from the next request on
  GET/DELETE /_emulator/truth   ground truth per generation request: ``time.monotonic_ns()`` of
                                arrival, first byte, first and last token, first reasoning and first
                                content token, end, reasoning tokens, effort, service tier, and when the model
                                scheduled the first and last token; ids, tokens, chunks, fault,
                                outcome, the ``time_info`` it reported, ``behind_schedule_s``,
                                ``drift_factor``; and the session's ``drift``
  GET /_emulator/stats          API requests, generation requests, TCP connections that carried API
                                requests (keep-alive check), responses behind schedule, streams
                                decoding now, the session's ``drift``
  POST /_emulator/reset         clear truth, counters, fault numbering, rate buckets
  GET /_emulator/clock          the server's ``monotonic_ns`` and ``perf_counter_ns``

Pacing: every step has an absolute deadline on the monotonic clock; the event loop's timers fire
to tens of microseconds (``timer.py``), so tokens leave one by one even at 2,000 tok/s. When the
process cannot keep up, chunks already due go out together (the durations stay right, the gaps
do not) and the response counts as behind schedule. ``benchmarks/emulator_capacity.py`` measures
where that starts on a given machine.

A response behind schedule is logged on stderr and flagged: streams add
``"x_emulator": {"behind_schedule_s": ...}`` to the final chunk (the SDK ignores unknown fields),
non-streaming responses carry an ``x-emulator-behind-schedule`` header.
"""

from .process import EmulatorError, EmulatorProcess
from .profile import Profile, builtin_names, load_profile
from .validation import ConfigError

__all__ = ["ConfigError", "EmulatorError", "EmulatorProcess", "Profile", "builtin_names", "load_profile"]
