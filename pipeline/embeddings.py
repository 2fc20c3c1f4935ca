"""Textual-inversion embeddings (A1111 .safetensors), used by file name in the prompt.

An A1111 embedding holds `emb_params` (or `string_to_param.*`): N vectors of the text encoder's
width; an SDXL one holds `clip_l` and `clip_g`. Its file name becomes a new token (N > 1: NAME,
NAME_1, …) whose input vectors are those; the rest of the vocabulary is untouched, so a prompt
without the name gives the same image as before. Checked before anything is changed: pickles,
damaged files, NaN, and vectors whose width does not match the text encoder are refused by name.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError, RequestError
from .loras import read_lora  # the same hostile-file checks (pickle, truncated, NaN)

if TYPE_CHECKING:
    import torch

MAX_VECTORS = 75


@dataclass(frozen=True)
class Embedding:
    name: str
    vectors: dict[str, torch.Tensor]  # "text_encoder" / "text_encoder_2" → (N, width)
    short_hash: str


def default_embedding_dir() -> Path:
    import platformdirs

    return platformdirs.user_data_path("Brushwork", appauthor=False) / "embeddings"


def example_embedding_dir() -> Path:
    """The example embeddings shipped with the app (for the bundled model; resources/extras)."""
    from .models import resources_dir

    return resources_dir() / "extras" / "embeddings"


def read_embedding(path: Path) -> Embedding:
    try:
        data = read_lora(path)  # same file checks; its messages say "LoRA": reword them
    except ModelError as exc:
        raise ModelError(str(exc).replace("LoRA", "Embedding", 1)) from None
    state = data.state
    if "clip_l" in state or "clip_g" in state:
        if not ("clip_l" in state and "clip_g" in state):
            raise ModelError(f"Embedding {data.name} is an SDXL embedding without clip_l/clip_g.")
        vectors = {"text_encoder": state["clip_l"], "text_encoder_2": state["clip_g"]}
    else:
        key = (
            "emb_params"
            if "emb_params" in state
            else next((k for k in state if k.startswith("string_to_param")), None)
        )
        if key is None:
            raise ModelError(
                f"Embedding {data.name} has no emb_params, string_to_param or clip_l/clip_g "
                f"(found {', '.join(list(state)[:3])}); it is not a textual-inversion embedding."
            )
        vectors = {"text_encoder": state[key]}
    for part, tensor in vectors.items():
        tensor = tensor.reshape(1, -1) if tensor.ndim == 1 else tensor
        if tensor.ndim != 2 or not 1 <= tensor.shape[0] <= MAX_VECTORS:
            raise ModelError(f"Embedding {data.name} has vectors of shape {tuple(tensor.shape)}.")
        vectors[part] = tensor.float()
    return Embedding(data.name, vectors, data.short_hash)


def install(pipe: Any, embedding: Embedding) -> None:
    """Adds the embedding's tokens to the pipeline's tokenizer(s) and text encoder(s)."""
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    if sdxl != ("text_encoder_2" in embedding.vectors):
        kind = "an SDXL" if not sdxl else "an SD 1.x/2.x"
        model = "SD 1.x/2.x" if not sdxl else "SDXL"
        raise ModelError(f"Embedding {embedding.name} is {kind} embedding; the model is {model}.")
    pairs = [("tokenizer", "text_encoder")] + ([("tokenizer_2", "text_encoder_2")] if sdxl else [])
    for _tokenizer, enc_name in pairs:
        encoder = getattr(pipe, enc_name)
        width = encoder.get_input_embeddings().weight.shape[1]
        got = embedding.vectors[enc_name].shape[1]
        if got != width:
            raise ModelError(
                f"Embedding {embedding.name} has vectors {got} wide; this model's text encoder "
                f"takes {width} (768: SD 1.x, 1024: SD 2.x, 768 + 1280: SDXL)."
            )
    for tok_name, enc_name in pairs:
        _add_tokens(getattr(pipe, tok_name), getattr(pipe, enc_name), embedding, enc_name)


def token_names(embedding: Embedding) -> list[str]:
    count = embedding.vectors["text_encoder"].shape[0]
    return [embedding.name] + [f"{embedding.name}_{k}" for k in range(1, count)]


def _add_tokens(tokenizer: Any, encoder: Any, embedding: Embedding, part: str) -> None:
    import torch

    names = token_names(embedding)
    tokenizer.add_tokens([n for n in names if n not in tokenizer.get_vocab()])
    ids = tokenizer.convert_tokens_to_ids(names)
    table = encoder.get_input_embeddings()
    if table.weight.shape[0] < len(tokenizer):
        encoder.resize_token_embeddings(len(tokenizer))
        table = encoder.get_input_embeddings()
    with torch.no_grad():
        table.weight[ids] = embedding.vectors[part].to(table.weight.dtype).to(table.weight.device)


def mentioned(prompt: str, names: list[str]) -> list[str]:
    """The names that occur as whole words in the prompt."""
    return [n for n in names if _whole_words(prompt, n)]


def expand_names(prompt: str, embeddings: list[Embedding]) -> str:
    """NAME → `NAME NAME_1 …` for multi-vector embeddings (one token per vector)."""
    for embedding in embeddings:
        names = token_names(embedding)
        starts = _whole_words(prompt, embedding.name) if len(names) > 1 else []
        for start in reversed(starts):
            prompt = prompt[:start] + " ".join(names) + prompt[start + len(embedding.name) :]
    return prompt


def _whole_words(text: str, name: str) -> list[int]:
    """Where `name` occurs in `text` with no word character or '-' on either side. Plain string
    search, not a regex built from a file name (tests/security/test_redos.py: literals only)."""
    starts, start = [], text.find(name) if name else -1
    while start >= 0:
        end = start + len(name)
        before = text[start - 1] if start else ""
        after = text[end] if end < len(text) else ""
        if not _word_char(before) and not _word_char(after):
            starts.append(start)
        start = text.find(name, start + 1)
    return starts


def _word_char(char: str) -> bool:
    return bool(char) and (char.isalnum() or char in "_-")


@dataclass
class EmbeddingState:
    installed: dict[str, Embedding]


def wanted_embeddings(request: Any) -> list[Path]:
    """Files given in `embeddings`, and files of the embedding folder named in a prompt."""
    paths = [Path(p) for p in request.embeddings]
    folder = Path(request.embedding_dir) if request.embedding_dir else default_embedding_dir()
    if folder.is_dir():
        found = itertools.islice(folder.glob("*.safetensors"), 10_000)  # bounded: hostile dirs
        files = {p.stem: p for p in found}
        text = f"{request.prompt}\n{request.negative_prompt}"
        paths += [files[name] for name in mentioned(text, list(files))]
    return paths


def check_embeddings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) and v.strip() for v in value):
        raise RequestError(f"embeddings must be a list of file paths (got {value!r}).")
    return tuple(value)
