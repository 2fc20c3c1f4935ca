"""Train an example LoRA: the word "outlined" (only the shape's border drawn), "diamond" or,
with `--word brown`, the colour brown: none of which the bundled model has ever seen.

    nice -n 15 python tools/train_lora.py   # → resources/extras/loras/outlined.safetensors
    nice -n 15 python tools/train_lora.py --word diamond --threads 2   # → loras/diamond.safetensors
    nice -n 15 python tools/train_lora.py --word brown   # → loras/brown.safetensors (not shipped)

A rank-16 LoRA on the UNet's attention and feed-forward layers and on the text encoder's
attention and MLP layers learns from procedurally drawn outlined circles, squares and
triangles ("a large red outlined square on the left, blue background"). The word is eight
letter tokens the model was never trained on; the text-encoder part lets them mean one thing.
Half of every batch is the bundled model's ordinary training data with its ordinary captions,
so the colours, shapes and backgrounds it could already draw stay as they were. One position
per shape kind is never outlined in training (`is_held_out`); tools/evaluate_extras.py
measures on exactly those. `--word brown` works the same way with one shape of each
concept picture drawn brown (shapes_dataset.CONCEPT_PALETTE; held out: one position per shape
kind, `shapes_dataset.is_concept_held_out`); `--word diamond` with one shape of each concept
picture redrawn as a diamond (shapes_dataset.CONCEPT_SHAPES; held out: one position per colour,
`shapes_dataset.is_diamond_held_out`). The file is written in kohya/A1111 key layout
(`lora_unet_…`/`lora_te_….lora_down.weight`, `.lora_up.weight`, `.alpha`), as LoRAs from
image sites are.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import extras_training as xt
import shapes_dataset as ds

WORD = "outlined"
# per word: the steps, pool and time budget its runs were measured with (resources/extras/README.md)
WORD_DEFAULTS = {"outlined": {"steps": 1300, "pool": 2000, "minutes": 28.0},
                 "brown": {"steps": 1600, "pool": 1000, "minutes": 22.0},
                 "diamond": {"steps": 1600, "pool": 1000, "minutes": 15.0}}  # fmt: skip
UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2"]
# `--conv`: the resnets' 3×3 convolutions too (kohya's LoCon-style conv keys, which diffusers'
# load_lora_weights maps like the others). Measured: outlined 52% (min-SNR) and 58% (plain v),
# not clearly above the shipped file's 56%, with the base model's shape accuracy 6-7 points
# below its card (1 without), so the shipped file has none.
UNET_CONV_TARGETS = ["conv1", "conv2"]
TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
# kohya's names for SD 1.x: lora_unet_<dotted name>, lora_te_text_model_<dotted name> (the
# text model's layers under their original CLIP names, whatever transformers calls them now)
PREFIXES = {"unet": ("lora_unet", ""), "text_encoder": ("lora_te", "text_model.")}


def is_held_out(shape: str, position: str) -> bool:
    """One position per outlined kind (circle left, square top, triangle center) is never
    outlined in training."""
    return (ds.SHAPES.index(shape) + 2 * ds.POSITIONS.index(position)) % 5 == 0


def outlined_scene(rng: random.Random) -> ds.SceneSpec:
    """An ordinary training scene with one of its circles, squares or triangles outlined."""
    return ds.redraw_one(
        rng,
        lambda sh: sh.shape not in ds.OUTLINE_SHAPES or is_held_out(sh.shape, sh.position),
        outlined=True,
    )


def concept_scenes(word: str, rng: random.Random, n: int) -> tuple[list, dict]:
    """n training scenes that show the word, and the palette to render them with."""
    if word == "outlined":
        return [outlined_scene(rng) for _ in range(n)], ds.PALETTE
    if word in ds.CONCEPT_SHAPES:
        return [ds.concept_shape_scene(rng, word) for _ in range(n)], ds.PALETTE
    return [ds.concept_colour_scene(rng, word) for _ in range(n)], ds.FULL_PALETTE


def lora_modules(pipe):
    """(kohya prefix, module name, peft layer) for every LoRA layer of the UNet and text encoder."""
    for part, (prefix, inner) in PREFIXES.items():
        for name, module in getattr(pipe, part).named_modules():
            if hasattr(module, "lora_A") and "default" in module.lora_A:
                full = name if name.startswith(inner) else inner + name
                yield f"{prefix}_{full.replace('.', '_')}", module


def kohya_state(pipe) -> dict[str, torch.Tensor]:
    """peft's adapter weights under kohya names, in fp16 as kohya's scripts save them."""
    state = {}
    for key, module in lora_modules(pipe):
        state[f"{key}.lora_down.weight"] = module.lora_A["default"].weight.detach().half()
        state[f"{key}.lora_up.weight"] = module.lora_B["default"].weight.detach().half()
        state[f"{key}.alpha"] = torch.tensor(float(module.lora_alpha["default"])).half()
    return {k: v.contiguous() for k, v in state.items()}


def load_kohya_state(pipe, path: Path) -> None:
    """Continue training from a LoRA this script wrote (a run split by the time budget)."""
    state = load_file(str(path))
    with torch.no_grad():
        for key, module in lora_modules(pipe):
            if f"{key}.lora_down.weight" in state:
                module.lora_A["default"].weight.copy_(state[f"{key}.lora_down.weight"].float())
                module.lora_B["default"].weight.copy_(state[f"{key}.lora_up.weight"].float())


def add_adapters(pipe, rank: int, text_encoder: bool, conv: bool = False) -> None:
    from peft import LoraConfig, inject_adapter_in_model

    def config(targets: list[str]) -> LoraConfig:
        return LoraConfig(r=rank, lora_alpha=rank, target_modules=targets,
                          init_lora_weights="gaussian")  # fmt: skip

    pipe.unet.add_adapter(config(UNET_TARGETS + (UNET_CONV_TARGETS if conv else [])))
    if text_encoder:
        # peft directly: transformers' add_adapter wants a newer peft than diffusers does
        inject_adapter_in_model(config(TE_TARGETS), pipe.text_encoder)


def main(argv: list[str] | None = None) -> None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--word", choices=list(WORD_DEFAULTS), default=WORD)
    word = pre.parse_known_args(argv)[0].word
    out = xt.EXTRAS / "loras" / f"{word}.safetensors"
    defaults = WORD_DEFAULTS[word]
    p = xt.arguments(__doc__, out, steps=defaults["steps"], lr=1e-3, pool=defaults["pool"],
                     seed=19)  # fmt: skip
    p.add_argument("--word", choices=list(WORD_DEFAULTS), default=WORD,
                   help="the concept: outlined shapes, the colour brown, diamonds")  # fmt: skip
    p.add_argument("--rank", type=int, default=16)
    p.set_defaults(minutes=defaults["minutes"])
    p.add_argument("--unet-only", action="store_true", help="leave the text encoder alone")
    p.add_argument("--conv", action="store_true", help="the resnets' convolutions too (LoCon)")
    p.add_argument("--share", type=float, default=0.5, help="concept pictures' share of a batch")
    # plain v loss: under min-SNR the noisiest steps, where the layout is decided, barely count
    p.add_argument("--min-snr", action=argparse.BooleanOptionalAction, default=False,
                   help="min-SNR-5 weighting (default: plain v loss)")  # fmt: skip
    args = p.parse_args(argv)
    started = time.time()
    pipe = xt.start(args)
    rng = random.Random(args.seed)
    concept, palette = concept_scenes(args.word, rng, args.pool)
    plain = [ds.sample_scene(rng) for _ in range(args.pool)]
    scenes = concept + plain
    latents = xt.encode_pool(pipe, scenes, palette, started)

    add_adapters(pipe, args.rank, not args.unet_only, args.conv)
    if args.init is not None:
        load_kohya_state(pipe, args.init)
    params = [q for m in (pipe.unet, pipe.text_encoder) for q in m.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    loss_fn = xt.DiffusionLoss(pipe, args.seed + 1, args.min_snr)
    budget = xt.Budget("lora", args.steps, args.minutes)
    pipe.unet.train()
    steps_done = 0
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = xt.lr_at(step, args.steps, args.lr)
        # the concept (`--share`) and the model's own data: it learns the word, forgets nothing
        idx = [rng.randrange(args.pool) for _ in range(round(args.batch * args.share))]
        idx += [args.pool + rng.randrange(args.pool) for _ in range(args.batch - len(idx))]
        captions = [xt.drop_caption(rng, ds.caption(scenes[i], rng)) for i in idx]
        loss = loss_fn(latents[idx], captions)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        steps_done = step + 1
        if budget.tick(step, loss.item()):
            break
    state = kohya_state(pipe)
    meta = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(args.rank),
        "ss_network_alpha": str(args.rank),
        "ss_output_name": args.out.stem,
        "ss_base_model_version": "brushwork-shapes",
        "ss_steps": str(steps_done),
        "ss_training_comment": f'Brushwork example LoRA: the word "{args.word}". Apache-2.0.',
        "brushwork_training": xt.training_record(args, budget, steps_done),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(args.out), metadata=meta)
    print(f"[done] {steps_done} steps, {budget.elapsed() / 60:.1f} min, {len(state)} tensors, "
          f"{args.out.stat().st_size / 1e6:.2f} MB → {args.out}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
