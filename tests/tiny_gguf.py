"""A tiny llama-architecture GGUF model whose output is known in advance, written with ``gguf.GGUFWriter``.

``python tests/tiny_gguf.py OUT.gguf [--variant normal|slow|stops|thinks]``

Random weights make a real llama.cpp server generate random text that may end at any token: a
scenario pinned at 32 tokens then measures 3 or 24. These weights are random too, except that they
spell out a fixed successor for every token: the layers add almost nothing (weights ~1e-3) to the
residual stream, which therefore still holds the current token's embedding when it reaches the output
matrix, whose row for token ``j`` is the embedding of ``j``'s predecessor. So the model walks a chain
of single-character tokens, one visible character per token, whatever the prompt says:

- ``normal``: 2 layers, 64 wide; the chain cycles through letters and digits and never ends, so a
  request's length is exactly its ``max_tokens``;
- ``slow``: the same chain through more and wider layers, several times slower per token;
- ``stops``: the chain reaches the end-of-turn token after ``STOP_AFTER`` tokens (what
  ``ignore_eos`` / ``min_tokens`` must overrule);
- ``thinks``: a chatml template that opens ``<think>`` in the generation prompt (Qwen3-style); the
  chain emits ``</think>`` after ``THINK_TOKENS`` tokens, so the server streams that many reasoning
  tokens before the first content token.

The vocabulary is SentencePiece-style (``tokenizer.ggml.model = llama``): the control tokens, the 256
byte-fallback tokens, ``▁`` and the printable ASCII characters, and ``</think>`` / ``<think>``.
"""

from __future__ import annotations

import argparse
import itertools
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFWriter, TokenType

STOP_AFTER = 12
THINK_TOKENS = 8
CONTEXT = 16384
# No whitespace control ({%- -%}) next to the newlines: it would strip the "\n" that ends each turn
# and the generation prompt, and the chain starts after that "\n".
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CHATML_THINKING = (
    "{% for message in messages %}"
    "{% if message.role == 'assistant' and message.reasoning_content %}"
    "<|im_start|>assistant\n<think>\n{{ message.reasoning_content }}\n</think>\n\n{{ message.content }}<|im_end|>\n"
    "{% else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


@dataclass(frozen=True)
class Shape:
    layers: int
    width: int
    feed_forward: int
    heads: int


SHAPES = {
    "normal": Shape(layers=2, width=64, feed_forward=128, heads=4),
    "slow": Shape(layers=4, width=256, feed_forward=1024, heads=8),
    "stops": Shape(layers=2, width=64, feed_forward=128, heads=4),
    "thinks": Shape(layers=2, width=64, feed_forward=128, heads=4),
}
CONTROL = ("<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>")
END_OF_TURN = "<|im_end|>"
CHAIN_CHARACTERS = string.ascii_letters + string.digits


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and types: control, 256 bytes, ``▁`` and printable characters, think tags."""
    tokens: list[str] = list(CONTROL)
    types = [TokenType.UNKNOWN, *[TokenType.CONTROL] * (len(CONTROL) - 1)]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TokenType.BYTE] * 256
    pieces = ["▁", *(c for c in string.printable[:94]), "<think>", "</think>"]
    tokens += pieces
    types += [TokenType.NORMAL] * len(pieces)
    scores = [0.0] * (len(CONTROL) + 256) + [-float(i) for i in range(len(pieces))]
    return tokens, scores, [int(t) for t in types]


def successors(tokens: list[str], variant: str) -> dict[int, int]:
    """Each chain token's next token; the chain starts after ``\\n`` (the last token of every prompt)."""
    index = {token: i for i, token in enumerate(tokens)}
    chain = [index[c] for c in CHAIN_CHARACTERS]
    if variant == "thinks":
        chain.insert(THINK_TOKENS, index["</think>"])
    nexts = {index["<0x0A>"]: chain[0]}
    for here, there in itertools.pairwise(chain):
        nexts[here] = there
    if variant == "stops":
        nexts[chain[STOP_AFTER - 1]] = index[END_OF_TURN]
    else:
        nexts[chain[-1]] = chain[THINK_TOKENS + 1 if variant == "thinks" else 0]
    return nexts


def write_model(path: Path, variant: str = "normal", seed: int = 0) -> Path:
    """Write the ``variant`` model to ``path`` (see the module docstring) and return the path."""
    shape = SHAPES[variant]
    rng = np.random.default_rng(seed)
    tokens, scores, types = vocabulary()
    vocab, width = len(tokens), shape.width
    embedding = rng.standard_normal((vocab, width)).astype(np.float32)
    embedding /= np.linalg.norm(embedding, axis=1, keepdims=True)
    output = np.zeros((vocab, width), dtype=np.float32)
    for here, there in successors(tokens, variant).items():
        output[there] += 4.0 * embedding[here]
    writer = GGUFWriter(str(path), "llama")
    writer.add_name(f"cerebras-perf-tiny-{variant}")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(width)
    writer.add_block_count(shape.layers)
    writer.add_feed_forward_length(shape.feed_forward)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.heads)
    writer.add_rope_dimension_count(width // shape.heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)  # all F32
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(tokens.index("<s>"))
    writer.add_eos_token_id(tokens.index(END_OF_TURN))
    writer.add_unk_token_id(tokens.index("<unk>"))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHATML_THINKING if variant == "thinks" else CHATML)
    writer.add_tensor("token_embd.weight", embedding)
    writer.add_tensor("output_norm.weight", np.ones(width, dtype=np.float32))
    writer.add_tensor("output.weight", output)

    def small(*dims: int) -> np.ndarray[Any, np.dtype[np.float32]]:
        return (rng.standard_normal(dims) * 1e-3).astype(np.float32)

    for layer in range(shape.layers):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(width, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{block}.{name}.weight", small(width, width))
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(width, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", small(shape.feed_forward, width))
        writer.add_tensor(f"{block}.ffn_up.weight", small(shape.feed_forward, width))
        writer.add_tensor(f"{block}.ffn_down.weight", small(width, shape.feed_forward))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--variant", choices=sorted(SHAPES), default="normal")
    args = parser.parse_args()
    print(write_model(args.out, args.variant))


if __name__ == "__main__":
    main()
