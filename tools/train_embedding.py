"""Train the example textual-inversion embedding: the new word "coin" (a yellow circle).

    nice -n 15 python tools/train_embedding.py   # → resources/extras/embeddings/coin.safetensors

Only the new word's input vectors are trained; the UNet, VAE, text encoder and every other token
stay frozen, so prompts without the word give exactly the bundled model's pictures. The vectors
start at the mean of the caption words' vectors (no hint of "yellow" or "circle") and are fitted
to pictures of yellow circles captioned "a large coin on the left, blue background" and so on;
30% of them have another shape on the opposite side ("a coin on the left and a red square on
the right"), so the word means one coin (trained on single coins it often drew two). The loss
is the plain v loss, not min-SNR: the noisiest steps decide the layout.
The tokens are added with the engine's own code (pipeline/embeddings.py), so training and use
see the same tokenization. Some position × background pairs are never drawn (`is_held_out`);
tools/evaluate_extras.py measures on those. Written as an A1111 embedding (`emb_params`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import extras_training as xt
import shapes_dataset as ds

from pipeline.embeddings import Embedding, expand_names, install, token_names

WORD = "coin"
COLOUR, SHAPE = "yellow", "circle"
BACKGROUNDS = tuple(c for c in ds.COLOURS if c != COLOUR)


def is_held_out(position: str, background: str) -> bool:
    """About a quarter of the position × background pairs are kept for evaluation."""
    return (ds.POSITIONS.index(position) + BACKGROUNDS.index(background)) % 4 == 0


def coin_scene(rng: random.Random, two_shapes: float = 0.0) -> ds.SceneSpec:
    """A yellow circle; with probability `two_shapes` another shape (not a yellow circle) on
    the opposite side too, as the bundled model's data has, so the word means one coin."""
    while True:
        position, background = rng.choice(ds.POSITIONS), rng.choice(BACKGROUNDS)
        if is_held_out(position, background):
            continue
        size = rng.choice(ds.SIZES)
        scene = ds.scene_from_words(COLOUR, SHAPE, size, position, background, rng)
        pair = [p for p in ds.OPPOSITE_PAIRS if position in p]
        if not pair or rng.random() >= two_shapes:
            return scene
        other = pair[0][1 - pair[0].index(position)]
        colour, shape = rng.choice(BACKGROUNDS), rng.choice(ds.SHAPES)
        if colour == background or (colour, shape) == (COLOUR, SHAPE):
            continue
        extra = ds.scene_from_words(colour, shape, size, other, background, rng).shapes
        shapes = (*scene.shapes, *extra)
        return ds.SceneSpec(background, shapes if rng.random() < 0.5 else shapes[::-1])


def coin_caption(scene: ds.SceneSpec, rng: random.Random) -> str:
    """The dataset's caption with "yellow circle" said as the new word."""
    return ds.caption(scene, rng).replace(f"{COLOUR} {SHAPE}", WORD)


def main(argv: list[str] | None = None) -> None:
    out = xt.EXTRAS / "embeddings" / f"{WORD}.safetensors"
    p = xt.arguments(__doc__, out, steps=600, lr=2e-3, pool=1500, seed=23)
    p.add_argument("--vectors", type=int, default=2)
    # plain v loss: under min-SNR the noisiest steps, where the layout is decided, barely
    # count, and a coin trained so (one or two shapes, min-SNR) was drawn in 71-79% (measured)
    p.add_argument("--min-snr", action=argparse.BooleanOptionalAction, default=False,
                   help="min-SNR-5 weighting (default: plain v loss)")  # fmt: skip
    p.add_argument("--two-shapes", type=float, default=0.3,
                   help="share of pictures with a second, other shape")  # fmt: skip
    args = p.parse_args(argv)
    started = time.time()
    pipe = xt.start(args)
    rng = random.Random(args.seed)
    scenes = [coin_scene(rng, args.two_shapes) for _ in range(args.pool)]
    latents = xt.encode_pool(pipe, scenes, ds.PALETTE, started)

    table = pipe.text_encoder.get_input_embeddings().weight
    words = pipe.tokenizer.convert_tokens_to_ids(list(ds.CAPTION_WORDS))
    start = table[words].mean(0, keepdim=True).repeat(args.vectors, 1)
    if args.init is not None:  # a run split by the time budget continues where it stopped
        from safetensors.torch import load_file

        start = load_file(str(args.init))["emb_params"].float()
    embedding = Embedding(WORD, {"text_encoder": start.clone()}, "")
    install(pipe, embedding)
    ids = pipe.tokenizer.convert_tokens_to_ids(token_names(embedding))
    table = pipe.text_encoder.get_input_embeddings().weight
    frozen = table.detach().clone()
    table.requires_grad_(True)
    opt = torch.optim.AdamW([table], lr=args.lr, weight_decay=0.0)
    keep = torch.ones(len(table), dtype=torch.bool)
    keep[ids] = False
    loss_fn = xt.DiffusionLoss(pipe, args.seed + 1, args.min_snr)
    budget = xt.Budget("embedding", args.steps, args.minutes)
    steps_done = 0
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = xt.lr_at(step, args.steps, args.lr)
        idx = [rng.randrange(args.pool) for _ in range(args.batch)]
        captions = [expand_names(xt.drop_caption(rng, coin_caption(scenes[i], rng)), [embedding])
                    for i in idx]  # fmt: skip
        loss = loss_fn(latents[idx], captions)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():  # every other token stays exactly as the model has it
            table[keep] = frozen[keep]
        steps_done = step + 1
        if budget.tick(step, loss.item()):
            break
    vectors = table.detach()[ids].clone().contiguous()
    meta = {
        "name": WORD,
        "brushwork_training": xt.training_record(args, budget, steps_done),
        "license": "Apache-2.0",
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"emb_params": vectors}, str(args.out), metadata=meta)
    print(f"[done] {steps_done} steps, {budget.elapsed() / 60:.1f} min, vectors "
          f"{tuple(vectors.shape)} → {args.out}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
