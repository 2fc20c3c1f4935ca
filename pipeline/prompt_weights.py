"""AUTOMATIC1111's prompt syntax: emphasis weights, BREAK, and 75-token chunks.

The rules (A1111 wiki, "Attention/emphasis"): `(text)` multiplies the attention to `text` by 1.1,
`[text]` divides it by 1.1, `(text:1.3)` multiplies it by 1.3; brackets nest and multiply;
`\\(`, `\\)`, `\\[`, `\\]`, `\\\\` are the literal characters; an unclosed bracket runs to the end
of the prompt; `BREAK` starts a new 75-token chunk. A prompt longer than 75 tokens is split into
chunks of 75 (moving the words after the last comma to the next chunk when that comma is at most
20 tokens back), each chunk is encoded alone and the encodings are concatenated.

One difference by intent: A1111 marks BREAK with the weight -1 and so turns a BREAK inside
brackets into the word "BREAK" with a negative weight; here BREAK always breaks.

Hostile input: the scan is one pass; brackets may nest at most MAX_DEPTH deep, so each piece of
text is multiplied at most MAX_DEPTH times (linear time), and every weight is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .errors import RequestError

CHUNK_TOKENS = 75  # CLIP reads 77 tokens: start, 75 of text, end
EMPHASIS = 1.1
COMMA_BACKTRACK = 20  # A1111's default "comma padding backtrack"
MAX_DEPTH = 100  # brackets open at once
MAX_EXPLICIT_WEIGHT = 100.0  # |w| in (text:w)
MAX_WEIGHT = 1e6  # |w| of any text after nesting multiplies it
_ESCAPABLE = "()[]\\"
_NUMBER_CHARS = set("0123456789.")


@dataclass
class Span:
    """A run of prompt text with one weight; `is_break` marks a BREAK (no text)."""

    text: str
    weight: float = 1.0
    is_break: bool = False


@dataclass(frozen=True)
class Chunk:
    """Up to 75 token ids of text and their weights (start/end/padding are added when encoded)."""

    tokens: tuple[int, ...]
    weights: tuple[float, ...]


@dataclass
class ParsedPrompt:
    spans: list[Span]
    notes: list[str] = field(default_factory=list)


def parse_prompt(text: str) -> ParsedPrompt:
    """Splits `text` into spans of equal weight, as A1111 does; raises RequestError on a weight
    that is not a number or out of bounds, or on brackets nested deeper than MAX_DEPTH."""
    parser = _Parser(text)
    parser.run()
    return ParsedPrompt(_merged(parser.spans), parser.notes)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.spans: list[Span] = []
        self.round: list[int] = []  # index into spans where each open "(" starts
        self.square: list[int] = []
        self.notes: list[str] = []

    def run(self) -> None:
        text, i, n = self.text, 0, len(self.text)
        while i < n:
            c = text[i]
            if c == "\\":
                # An escaped bracket or backslash is that character; a lone backslash is dropped.
                escaped = text[i + 1] if i + 1 < n and text[i + 1] in _ESCAPABLE else ""
                self.spans.append(Span(escaped))
                i += 1 + len(escaped)
            elif c in "([":
                (self.round if c == "(" else self.square).append(len(self.spans))
                if len(self.round) + len(self.square) > MAX_DEPTH:
                    raise RequestError(
                        f"The prompt opens more than {MAX_DEPTH} brackets at once (at character "
                        f"{i + 1}); use (text:weight) instead of deep nesting."
                    )
                i += 1
            elif c == ":":
                i = self._colon(i)
            elif c == ")" and self.round:
                self._multiply(self.round.pop(), EMPHASIS)
                i += 1
            elif c == "]" and self.square:
                self._multiply(self.square.pop(), 1 / EMPHASIS)
                i += 1
            elif c in ")]":
                self.spans.append(Span(c))  # unmatched: literal, as in A1111
                i += 1
            else:
                end = i
                while end < n and text[end] not in "\\()[]:":
                    end += 1
                self._add_text(text[i:end])
                i = end
        # Unclosed brackets run to the end: "(" ones first, outermost first, then "[" ones.
        for start in self.round:
            self._multiply(start, EMPHASIS)
        for start in self.square:
            self._multiply(start, 1 / EMPHASIS)
        for span in self.spans:
            if not abs(span.weight) <= MAX_WEIGHT:
                raise RequestError(
                    f"The brackets around {span.text.strip()[:40]!r} give it a weight of "
                    f"{span.weight:g}; the limit is {MAX_WEIGHT:g}."
                )

    def _colon(self, i: int) -> int:
        """`:` then optional spaces, a number and `)` sets the weight of the open `(`; anything
        else is the character ":" (A1111's rule)."""
        text, n = self.text, len(self.text)
        j = _skip_spaces(text, i + 1)
        k = j + 1 if j < n and text[j] in "+-" else j
        m = k
        while m < n and text[m] in _NUMBER_CHARS:
            m += 1
        close = _skip_spaces(text, m)
        if m == k or close >= n or text[close] != ")" or not self.round:
            self._note_non_number(i)
            self._add_text(":")
            return i + 1
        raw = text[j:m]
        try:
            weight = float(raw)
        except ValueError:
            raise RequestError(
                f"The weight {raw!r} at character {j + 1} of the prompt is not a number; write "
                "it like (text:1.2)."
            ) from None
        if not abs(weight) <= MAX_EXPLICIT_WEIGHT:
            raise RequestError(
                f"The weight {raw} at character {j + 1} of the prompt is out of range; weights "
                f"go from -{MAX_EXPLICIT_WEIGHT:g} to {MAX_EXPLICIT_WEIGHT:g} (1 = unchanged)."
            )
        self._multiply(self.round.pop(), weight)
        return close + 1

    def _note_non_number(self, i: int) -> None:
        """`(word:abc)` / `(word:1e9)` look like a weight but are text to A1111: say so once."""
        if not self.round or self.notes:
            return
        end = self.text.find(")", i, i + 30)
        if end > i + 1 and not any(ch.isspace() for ch in self.text[i:end]):
            self.notes.append(
                f"{self.text[i + 1 : end]!r} in the prompt is not a weight (weights are plain "
                "numbers such as 1.2), so it is read as text, in brackets that multiply by 1.1."
            )

    def _multiply(self, start: int, factor: float) -> None:
        for span in self.spans[start:]:
            span.weight *= factor

    def _add_text(self, text: str) -> None:
        for k, part in enumerate(_split_breaks(text)):
            if k:
                self.spans.append(Span("", is_break=True))
            self.spans.append(Span(part))


def _skip_spaces(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _split_breaks(text: str) -> list[str]:
    """Splits at each whole word BREAK, dropping the spaces around it (linear: str.find)."""
    parts: list[str] = []
    start = search = 0
    while (at := text.find("BREAK", search)) != -1:
        after = at + len("BREAK")
        whole = (at == 0 or not _is_word(text[at - 1])) and (
            after == len(text) or not _is_word(text[after])
        )
        if whole:
            parts.append(text[start:at].rstrip())
            start = _skip_spaces(text, after)
        search = after
    parts.append(text[start:])
    return parts


def _merged(spans: list[Span]) -> list[Span]:
    """Joins neighbours of equal weight (their text is then tokenized together, as in A1111)."""
    groups: list[tuple[Span, list[str]]] = []  # texts joined once at the end: linear time
    for span in spans:
        last = groups[-1][0] if groups else None
        if last and not last.is_break and not span.is_break and last.weight == span.weight:
            groups[-1][1].append(span.text)
        else:
            groups.append((span, [span.text]))
    merged = [Span("".join(texts), span.weight, span.is_break) for span, texts in groups]
    return merged or [Span("")]


def chunk_prompt(
    spans: Sequence[Span],
    tokenize: Callable[[list[str]], list[list[int]]],
    comma_id: int | None,
    size: int = CHUNK_TOKENS,
) -> list[Chunk]:
    """Token ids and weights in chunks of at most `size` (A1111's rules, see the module doc;
    75 for every SD model, less for a text encoder with fewer positions, like the bundled one's).

    `tokenize` turns texts into token ids without start/end tokens. Always at least one chunk."""
    texts = [span.text for span in spans if not span.is_break]
    ids = iter(tokenize(texts) if texts else [])
    chunks: list[Chunk] = []
    tokens: list[int] = []
    weights: list[float] = []
    last_comma = -1

    def close() -> None:
        nonlocal tokens, weights, last_comma
        chunks.append(Chunk(tuple(tokens), tuple(weights)))
        tokens, weights, last_comma = [], [], -1

    for span in spans:
        if span.is_break:
            close()
            continue
        for token in next(ids):
            if token == comma_id:
                last_comma = len(tokens)
            elif (
                len(tokens) == size
                and last_comma != -1
                and len(tokens) - last_comma <= COMMA_BACKTRACK
            ):
                cut = last_comma + 1  # the words after the comma move to the next chunk
                moved = tokens[cut:], weights[cut:]
                tokens, weights = tokens[:cut], weights[:cut]
                close()
                tokens, weights = list(moved[0]), list(moved[1])
            if len(tokens) == size:
                close()
            tokens.append(token)
            weights.append(span.weight)
    if tokens or not chunks:
        close()
    return chunks
