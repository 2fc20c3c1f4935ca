"""The bundled tokenizer must never fail, whatever the user types."""

from __future__ import annotations

import pytest
import shapes_dataset as ds
from conftest import MODEL_DIR
from transformers import CLIPTokenizer

WEIRD = [
    "ein grüner Kreis",
    "دائرة حمراء",
    "一个红色的圆",
    "🎨🔴 a red circle 🟦",
    "zzqx unknownword, blorp!",
    "",
    "a " * 100,
]


@pytest.fixture(scope="module")
def tokenizer() -> CLIPTokenizer:
    if not (MODEL_DIR / "tokenizer").is_dir():
        pytest.skip("bundled model not built")
    return CLIPTokenizer.from_pretrained(MODEL_DIR / "tokenizer")


def test_every_caption_word_is_one_token(tokenizer: CLIPTokenizer) -> None:
    for word in ds.CAPTION_WORDS:
        assert len(tokenizer(word, add_special_tokens=False).input_ids) == 1, word


@pytest.mark.parametrize("text", WEIRD)
def test_unknown_and_non_ascii_text_tokenizes(tokenizer: CLIPTokenizer, text: str) -> None:
    ids = tokenizer(
        text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True
    ).input_ids
    assert len(ids) == tokenizer.model_max_length
    assert ids[0] == tokenizer.bos_token_id
    # byte fallback: every real piece maps to a real vocabulary entry, never to <unk>
    pieces = tokenizer(text, add_special_tokens=False).input_ids
    if text.strip():
        assert pieces
    assert all(0 <= i < len(tokenizer) for i in pieces)
    # CLIP's <unk> is <|endoftext|>; it must never stand in for user text
    assert tokenizer.unk_token_id not in pieces


def test_builder_matches_shipped_tokenizer(tokenizer: CLIPTokenizer, tmp_path) -> None:
    from train_bundled_model import build_tokenizer

    fresh = build_tokenizer(tmp_path)
    assert fresh.get_vocab() == tokenizer.get_vocab()
    text = "a large red circle on the left, blue background"
    assert fresh(text).input_ids == tokenizer(text).input_ids
