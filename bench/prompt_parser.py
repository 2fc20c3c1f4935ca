"""Time of the A1111 prompt parser on hostile prompts (it must stay linear in the length).

python bench/prompt_parser.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.errors import RequestError
from pipeline.prompt_weights import MAX_DEPTH, parse_prompt


def timed(label: str, prompt: str) -> None:
    started = time.perf_counter()
    try:
        spans = len(parse_prompt(prompt).spans)
        outcome = f"{spans} spans"
    except RequestError as exc:
        outcome = f"refused: {str(exc)[:60]}…"
    ms = (time.perf_counter() - started) * 1000
    print(f"{label:44} {len(prompt):>7} chars {ms:8.1f} ms  {outcome}")


def main() -> None:
    for n in (2_500, 5_000, 10_000):
        timed(f"{n} nested parentheses", "(" * n + "x" + ")" * n)
        timed(f"{n} unclosed '('", "(" * n)
        timed(
            f"{n} '(a' at depth <= {MAX_DEPTH}",
            ("(a" * MAX_DEPTH + "a)" * MAX_DEPTH) * (n // (4 * MAX_DEPTH)),
        )
        timed(f"{n} words inside {MAX_DEPTH} brackets", "[" * MAX_DEPTH + "word " * n)
        timed(f"{n} ':' and spaces", ": " * n)


if __name__ == "__main__":
    main()
