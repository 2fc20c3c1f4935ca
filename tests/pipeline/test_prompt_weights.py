"""A1111 prompt syntax: weights and chunk boundaries against a reference built from A1111's
documented rules (character by character, a different method from the parser's)."""

import pytest

from pipeline.errors import RequestError
from pipeline.prompt_weights import (
    CHUNK_TOKENS,
    MAX_DEPTH,
    Span,
    chunk_prompt,
    parse_prompt,
)


def reference_char_weights(text: str) -> list[tuple[str, float]]:
    """A1111's rules, per character: each literal character's weight is the product of the
    factors of the brackets around it, innermost closed first; ( ) = 1.1, [ ] = 1/1.1,
    (…:w) = w, unclosed brackets run to the end (round ones first, outermost first)."""
    chars: list[str] = []  # literal characters, in order
    closed: list[tuple[int, int, float]] = []  # (first char index, end index, factor), in order
    round_open, square_open = [], []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 < len(text) and text[i + 1] in "()[]\\":
                chars.append(text[i + 1])
                i += 2
            else:
                i += 1
            continue
        if c == "(":
            round_open.append(len(chars))
        elif c == "[":
            square_open.append(len(chars))
        elif c == ":" and round_open:
            rest = text[i + 1 :]
            body = rest.split(")", 1)[0] if ")" in rest else None
            number = body.strip() if body is not None else ""
            if number and all(ch in "+-.0123456789" for ch in number) and number[0] not in ".":
                closed.append((round_open.pop(), len(chars), float(number)))
                i += 1 + len(body) + 1
                continue
            chars.append(c)
        elif c == ")" and round_open:
            closed.append((round_open.pop(), len(chars), 1.1))
        elif c == "]" and square_open:
            closed.append((square_open.pop(), len(chars), 1 / 1.1))
        else:
            chars.append(c)
        i += 1
    closed += [(s, len(chars), 1.1) for s in round_open]
    closed += [(s, len(chars), 1 / 1.1) for s in square_open]
    weights = []
    for k in range(len(chars)):
        w = 1.0
        for start, end, factor in closed:
            if start <= k < end:
                w *= factor
        weights.append(w)
    return list(zip(chars, weights, strict=True))


def flatten(spans: list[Span]) -> list[tuple[str, float]]:
    return [(ch, span.weight) for span in spans for ch in span.text]


PROMPTS = [
    "a red circle",
    "(word)",
    "((word))",
    "[word]",
    "[[word]]",
    "(word:1.3)",
    "(word:1.0)",
    "(word: 0.5 )",
    "a (b [c] d:1.5) e",
    "(a (b:2) c)",
    r"\(not weighted\) and \[plain\]",
    r"a \\ b",
    "(unclosed and [also",
    "close) without open]",
    "(style: anime) portrait",
    "(a:-1) b",
    "(a[b)c]",  # crossing brackets: ( closes over a,b; [ over b,c
    "masterpiece, (best quality:1.2), ((detailed)), [blurry:0.8)",
]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_weights_equal_the_reference_from_a1111s_rules(prompt):
    got = flatten(parse_prompt(prompt).spans)
    want = reference_char_weights(prompt)
    assert [c for c, _ in got] == [c for c, _ in want]
    assert [w for _, w in got] == pytest.approx([w for _, w in want], rel=1e-12)


def test_known_values_from_the_a1111_wiki():
    spans = parse_prompt("a (b) ((c)) [d] (e:1.5)").spans
    weights = {s.text.strip(): s.weight for s in spans if s.text.strip()}
    assert weights["b"] == pytest.approx(1.1)
    assert weights["c"] == pytest.approx(1.21)
    assert weights["d"] == pytest.approx(1 / 1.1)
    assert weights["e"] == pytest.approx(1.5)
    assert weights["a"] == 1.0


def test_equal_neighbours_are_merged_and_one_point_zero_is_plain_text():
    assert [(s.text, s.weight) for s in parse_prompt("(word:1.0)").spans] == [("word", 1.0)]
    assert [(s.text, s.weight) for s in parse_prompt("(a)(b)").spans] == [("ab", 1.1)]


def test_break_splits_spans_and_is_not_text():
    spans = parse_prompt("a cat BREAK a dog").spans
    assert [(s.text, s.is_break) for s in spans] == [
        ("a cat", False),
        ("", True),
        ("a dog", False),
    ]
    assert not any(s.is_break for s in parse_prompt("BREAKFAST and aBREAK").spans)
    # Inside brackets BREAK still breaks (A1111 would make it a negatively weighted word).
    assert any(s.is_break for s in parse_prompt("(a BREAK b)").spans)


def test_not_a_number_after_a_colon_is_text_with_a_note():
    for prompt, shown in (("(word:abc)", "abc"), ("(word:1e9)", "1e9")):
        parsed = parse_prompt(prompt)
        assert flatten(parsed.spans) == [
            (c, pytest.approx(w)) for c, w in reference_char_weights(prompt)
        ]
        assert len(parsed.notes) == 1 and shown in parsed.notes[0]
    assert parse_prompt("(style: anime)").notes == []  # an ordinary colon in a phrase


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("(word:1000000000)", "out of range"),
        ("(word:1.2.3)", "not a number"),
        ("(word:.)", "not a number"),
        ("(" * 10_000 + "word" + ")" * 10_000, f"more than {MAX_DEPTH} brackets"),
        ("(" * 10_000, f"more than {MAX_DEPTH} brackets"),
        ("(" * 99 + "(x:99)" + ")" * 99, "weight of"),
    ],
)
def test_hostile_weights_and_nesting_are_refused_clearly(prompt, message):
    with pytest.raises(RequestError, match=message):
        parse_prompt(prompt)


def test_deepest_allowed_nesting_over_a_long_prompt_parses():
    # Every character inside MAX_DEPTH brackets: each piece is multiplied at most MAX_DEPTH
    # times (the A1111 algorithm without the cap is quadratic on this).
    prompt = "[" * MAX_DEPTH + "a]" * MAX_DEPTH + "x" * 15_000
    spans = parse_prompt(prompt).spans
    assert spans[0].weight == pytest.approx(1.1**-MAX_DEPTH)
    assert spans[-1].text.endswith("x" * 15_000) and spans[-1].weight == 1.0


def tokenize_chars(texts: list[str]) -> list[list[int]]:
    """One token per non-space character (like the tiny test tokenizer)."""
    return [[ord(c) for c in text if not c.isspace()] for text in texts]


def chunk_lengths(prompt: str) -> list[int]:
    chunks = chunk_prompt(parse_prompt(prompt).spans, tokenize_chars, ord(","))
    for chunk in chunks:
        assert len(chunk.tokens) == len(chunk.weights) <= CHUNK_TOKENS
    return [len(c.tokens) for c in chunks]


@pytest.mark.parametrize(
    ("prompt", "lengths"),
    [
        ("", [0]),
        ("x" * 75, [75]),
        ("x" * 76, [75, 1]),
        ("x" * 200, [75, 75, 50]),
        # A comma at most 20 tokens back from a full chunk: what follows it moves on.
        ("x" * 60 + "," + "y" * 30, [61, 30]),
        ("x" * 55 + "," + "y" * 30, [56, 30]),  # comma at 55, 75 - 55 = 20 back: moved
        ("x" * 54 + "," + "y" * 30, [75, 10]),  # 21 back: cut at 75
        ("a BREAK b", [1, 1]),
        ("BREAK a", [0, 1]),
        ("a BREAK", [1]),
        ("x" * 75 + " BREAK y", [75, 1]),  # a full chunk is closed once
        ("x" * 76 + " BREAK y", [75, 1, 1]),
    ],
)
def test_chunk_boundaries_follow_a1111s_rules(prompt, lengths):
    assert chunk_lengths(prompt) == lengths


def test_chunks_carry_each_tokens_weight():
    chunks = chunk_prompt(parse_prompt("a (b:1.5) " + "c" * 80).spans, tokenize_chars, ord(","))
    assert chunks[0].tokens[:2] == (ord("a"), ord("b"))
    assert chunks[0].weights[:3] == (1.0, 1.5, 1.0)
    assert sum(len(c.tokens) for c in chunks) == 82


def test_real_clip_tokenizer_tokenizes_each_span_alone():
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained("resources/models/brushwork-shapes/tokenizer")

    def tokenize(texts):
        return tokenizer(texts, add_special_tokens=False).input_ids

    comma = tokenizer.get_vocab()[",</w>"]
    chunks = chunk_prompt(parse_prompt("red (circle:1.3), blue").spans, tokenize, comma)
    words = tokenizer.convert_ids_to_tokens(list(chunks[0].tokens))
    assert words == ["red</w>", "circle</w>", ",</w>", "blue</w>"]
    assert chunks[0].weights == (1.0, 1.3, 1.0, 1.0)
