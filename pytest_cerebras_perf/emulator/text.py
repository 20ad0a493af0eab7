"""Deterministic output text and an approximate tokenizer.

A word-based tokenizer (one token per word or punctuation mark) is crude for prompts but exact for
the generated text, whose pieces are single words or marks: ``count_tokens`` of an output equals
the ``completion_tokens`` the emulator reports, which keeps usage self-consistent.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")
MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat template adds per message (role markers, separators), as real tokenizers do."""

_WORDS = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "was",
    "on",
    "be",
    "by",
    "this",
    "are",
    "from",
    "at",
    "or",
    "an",
    "have",
    "not",
    "which",
    "one",
    "all",
    "but",
    "they",
    "their",
    "more",
    "can",
    "has",
    "were",
    "there",
    "been",
    "some",
    "when",
    "would",
    "these",
    "what",
    "will",
    "into",
    "time",
    "may",
    "only",
    "its",
    "other",
    "new",
    "also",
    "most",
    "any",
    "such",
    "first",
    "over",
    "like",
    "could",
    "than",
    "then",
    "them",
    "two",
    "made",
    "after",
    "many",
    "model",
    "token",
    "speed",
    "stream",
    "server",
    "latency",
    "request",
    "batch",
    "prompt",
    "output",
    "chip",
    "memory",
    "wafer",
    "compute",
    "fast",
    "data",
    "first",
    "system",
    "value",
    "measure",
    "result",
    "throughput",
    "queue",
    "cloud",
    "engine",
    "layer",
    "weight",
    "cache",
    "signal",
    "window",
    "number",
    "answer",
    "question",
    "reason",
    "simple",
    "clear",
    "small",
    "large",
    "early",
    "later",
    "between",
)
_PUNCTUATION_EVERY = 9
_SENTENCE_END_PROBABILITY = 0.4
_CORPUS_SIZE = 1 << 16
_CORPUS_SEED = "pytest-cerebras-perf emulator corpus"


def count_tokens(text: str) -> int:
    return sum(1 for _ in TOKEN_PATTERN.finditer(text))


def _content_text(content: object) -> str:
    """Message content is a string or a list of parts ``{"type": "text", "text": ...}``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return ""


def prompt_tokens(messages: Sequence[Mapping[str, object]]) -> int:
    return sum(count_tokens(_content_text(message.get("content"))) + MESSAGE_OVERHEAD_TOKENS for message in messages)


def _build_corpus(count: int) -> list[str]:
    """``count`` token pieces (" word", ",", ".") forming sentence-like text, the same in every process."""
    rng = random.Random(_CORPUS_SEED)
    words = rng.choices(_WORDS, k=count)
    pieces: list[str] = []
    capitalize = True
    for index, word in enumerate(words):
        if index and index % _PUNCTUATION_EVERY == 0:
            sentence_end = rng.random() < _SENTENCE_END_PROBABILITY
            pieces.append("." if sentence_end else ",")
            capitalize = sentence_end
            continue
        pieces.append(" " + (word.capitalize() if capitalize else word))
        capitalize = False
    return pieces


_CORPUS = _build_corpus(_CORPUS_SIZE)


def generate_pieces(seed_material: str, count: int) -> list[str]:
    """``count`` pieces of text fixed by ``seed_material``: a window into a corpus built once.

    Slicing a prebuilt corpus costs microseconds where drawing thousands of words per request cost
    milliseconds, all of them spent when a burst of requests arrives. The window's offset comes from
    SHA-256, so it is the same in every process and Python run, unlike ``hash()``.
    """
    offset = int.from_bytes(hashlib.sha256(seed_material.encode()).digest()[:8], "big") % _CORPUS_SIZE
    pieces = _CORPUS[offset : offset + count]
    while len(pieces) < count:
        pieces += _CORPUS[: count - len(pieces)]
    pieces[0] = pieces[0].lstrip().capitalize()
    return pieces
