"""The header that carries each request's id, shared by the client and the emulator.

``x-request-id`` is the conventional name (AIPerf sends it; vLLM and most gateways log it), so a
sample's ``request_id`` joins with the server's own logs, and with the emulator's ground truth.
"""

REQUEST_ID_HEADER = "x-request-id"
