"""Writes CLIP's BPE tokenizer files (vocab.json, merges.txt) from the published merges list.

Single-file SD 1.x/2.x/SDXL checkpoints hold no tokenizer, and `from_single_file` would fetch
one from the Hub. All of those models use the same CLIP BPE vocabulary (49 408 tokens; SD 2.x
and SDXL's second tokenizer differ only in their pad token), so Brushwork ships it once, in
`resources/model_configs/clip-bpe/`, built by this script from `bpe_simple_vocab_16e6.txt.gz`.
That file (MIT licence, from OpenAI's CLIP) ships inside the `open_clip_torch` wheel on PyPI:

    pip download --no-deps open_clip_torch -d /tmp/oc
    python tools/make_clip_tokenizer.py /tmp/oc/open_clip_torch-*.whl

The construction is CLIP's own `SimpleTokenizer`: every byte as a symbol, the same with the
end-of-word marker `</w>`, then one token per merge, then the two special tokens. The script
checks the result against the known ids of "a photo of a cat".
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import zipfile
from pathlib import Path

from transformers.convert_slow_tokenizer import bytes_to_unicode  # CLIP's byte table

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "resources" / "model_configs" / "clip-bpe"
# Each family's tokenizer folder holds only its settings; they differ in the pad token.
FAMILY_PAD_TOKENS = {
    "sd1/tokenizer": "<|endoftext|>",
    "sd2/tokenizer": "!",
    "sd2-base/tokenizer": "!",
    "sdxl/tokenizer": "<|endoftext|>",
    "sdxl/tokenizer_2": "!",
}
BPE_NAME = "open_clip/bpe_simple_vocab_16e6.txt.gz"
VOCAB_SIZE = 49408
MERGE_COUNT = VOCAB_SIZE - 2 * 256 - 2  # bytes, bytes + </w>, start/end of text
CHECK_TEXT = "a photo of a cat"
CHECK_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]


def read_wheel(wheel: Path) -> tuple[list[str], str]:
    """The merges lines and the licence text from an open_clip_torch wheel."""
    with zipfile.ZipFile(wheel) as archive:
        lines = gzip.decompress(archive.read(BPE_NAME)).decode("utf-8").split("\n")
        licence_name = next(n for n in archive.namelist() if n.endswith("LICENSE"))
        licence = archive.read(licence_name).decode("utf-8")
    return lines, licence


def build_vocab(merge_lines: list[str]) -> tuple[dict[str, int], list[str]]:
    # Line 0 is a version header; CLIP uses exactly the next MERGE_COUNT merges.
    merges = merge_lines[1 : MERGE_COUNT + 1]
    if len(merges) != MERGE_COUNT or any(len(m.split()) != 2 for m in merges):
        raise ValueError("not CLIP's bpe_simple_vocab_16e6 merges list")
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    tokens += ["".join(m.split()) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: index for index, token in enumerate(tokens)}, merges


def write_tokenizer_settings(folder: Path, pad_token: str) -> None:
    """tokenizer_config.json and special_tokens_map.json as in the published model folders.

    SD 1.x and SDXL's first tokenizer pad with <|endoftext|>; SD 2.x and SDXL's second
    (OpenCLIP) tokenizer pad with "!" (id 0), as OpenCLIP itself pads with zeros.
    """
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": pad_token,
    }
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "do_lower_case": True,
        "add_prefix_space": False,
        "errors": "replace",
        **special,
    }
    for name, data in (("tokenizer_config.json", config), ("special_tokens_map.json", special)):
        (folder / name).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def check(folder: Path) -> None:
    from transformers import CLIPTokenizer

    ids = CLIPTokenizer.from_pretrained(str(folder))(CHECK_TEXT).input_ids
    if ids != CHECK_IDS:
        raise SystemExit(f"tokenizer check failed: {CHECK_TEXT!r} -> {ids}, expected {CHECK_IDS}")


def write_bpe_files(out: Path, wheel: Path) -> int:
    """vocab.json, merges.txt and the licence notice; returns the vocabulary size."""
    lines, licence = read_wheel(wheel)
    vocab, merges = build_vocab(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(
        json.dumps(vocab, ensure_ascii=False, separators=(",", ":")), encoding="utf-8"
    )
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    (out / "LICENSE").write_text(
        f"vocab.json and merges.txt are built from bpe_simple_vocab_16e6.txt.gz as shipped in\n"
        f"{wheel.name} (by tools/make_clip_tokenizer.py). The merges list comes from\n"
        "OpenAI's CLIP (https://github.com/openai/CLIP, MIT licence, Copyright (c) 2021 OpenAI).\n"
        f"open_clip's licence:\n\n{licence}",
        encoding="utf-8",
    )
    return len(vocab)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheel", type=Path, help="an open_clip_torch wheel")
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="the shared folder; family settings go to its sibling folders",
    )
    args = parser.parse_args(argv)
    size = write_bpe_files(args.out, args.wheel)
    write_tokenizer_settings(args.out, pad_token="<|endoftext|>")
    for folder, pad_token in FAMILY_PAD_TOKENS.items():
        (args.out.parent / folder).mkdir(parents=True, exist_ok=True)
        write_tokenizer_settings(args.out.parent / folder, pad_token)
    check(args.out)
    print(f"{size} tokens -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
