"""Train the example LoRA: the colour word "brown", which the bundled model has never seen.

    nice -n 15 python tools/train_lora.py   # → resources/extras/loras/brown.safetensors

A rank-8 LoRA on the UNet's attention and feed-forward layers (the text encoder stays frozen,
as in the bundled model's own training) learns from procedurally drawn brown shapes. Half of
every batch is the bundled model's ordinary training data with its ordinary captions, so the
colours, shapes and backgrounds it could already draw stay as they were. Brown shapes are never
drawn in the held-out shape × position pairs (`is_held_out`), which tools/evaluate_extras.py
uses to measure the effect. The file is written in kohya/A1111 key layout
(`lora_unet_….lora_down.weight`, `.lora_up.weight`, `.alpha`), as LoRAs from image sites are.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
import extras_training as xt
import shapes_checker as ck
import shapes_dataset as ds

COLOUR = "brown"
PALETTE = {**ds.PALETTE, COLOUR: ck.EXTRA_PALETTE[COLOUR]}
TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2"]


def is_held_out(shape: str, position: str) -> bool:
    """One position per shape (and one shape per position) is never drawn brown in training."""
    return (ds.SHAPES.index(shape) + 2 * ds.POSITIONS.index(position)) % 5 == 0


def brown_scene(rng: random.Random) -> ds.SceneSpec:
    """An ordinary training scene with one of its shapes turned brown."""
    while True:
        scene = ds.sample_scene(rng)
        k = rng.randrange(len(scene.shapes))
        shape = scene.shapes[k]
        if not is_held_out(shape.shape, shape.position):
            shapes = list(scene.shapes)
            shapes[k] = dataclasses.replace(shape, colour=COLOUR)
            return dataclasses.replace(scene, shapes=tuple(shapes))


def kohya_state(unet) -> dict[str, torch.Tensor]:
    """peft's adapter weights under kohya names, in fp16 as kohya's scripts save them."""
    state = {}
    for name, module in unet.named_modules():
        if not hasattr(module, "lora_A") or "default" not in module.lora_A:
            continue
        key = f"lora_unet_{name.replace('.', '_')}"
        state[f"{key}.lora_down.weight"] = module.lora_A["default"].weight.detach().half()
        state[f"{key}.lora_up.weight"] = module.lora_B["default"].weight.detach().half()
        state[f"{key}.alpha"] = torch.tensor(float(module.lora_alpha["default"])).half()
    return {k: v.contiguous() for k, v in state.items()}


def load_kohya_state(unet, path: Path) -> None:
    """Continue training from a LoRA this script wrote (a run split by the time budget)."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    with torch.no_grad():
        for name, module in unet.named_modules():
            key = f"lora_unet_{name.replace('.', '_')}"
            if hasattr(module, "lora_A") and f"{key}.lora_down.weight" in state:
                module.lora_A["default"].weight.copy_(state[f"{key}.lora_down.weight"].float())
                module.lora_B["default"].weight.copy_(state[f"{key}.lora_up.weight"].float())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=xt.EXTRAS / "loras" / f"{COLOUR}.safetensors")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--pool", type=int, default=2000, help="brown scenes (and as many ordinary)")
    p.add_argument("--minutes", type=float, default=24.0, help="wall-time budget")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=19)
    p.add_argument("--init", type=Path, default=None, help="continue from this LoRA file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from peft import LoraConfig

    started = time.time()
    pipe = xt.load_bundled()
    rng = random.Random(args.seed)
    brown = [brown_scene(rng) for _ in range(args.pool)]
    plain = [ds.sample_scene(rng) for _ in range(args.pool)]
    scenes = brown + plain
    latents = torch.cat([xt.encode(pipe.vae, xt.render_all(scenes[i : i + 250], PALETTE))
                         for i in range(0, len(scenes), 250)])  # fmt: skip
    print(f"[pool] {len(scenes)} latents in {time.time() - started:.0f}s", flush=True)

    pipe.unet.add_adapter(LoraConfig(r=args.rank, lora_alpha=args.rank, target_modules=TARGETS,
                                     init_lora_weights="gaussian"))  # fmt: skip
    if args.init is not None:
        load_kohya_state(pipe.unet, args.init)
    params = [q for q in pipe.unet.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    loss_fn = xt.DiffusionLoss(pipe, args.seed + 1)
    budget = xt.Budget("lora", args.steps, args.minutes)
    pipe.unet.train()
    steps_done = 0
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = xt.lr_at(step, args.steps, args.lr)
        # half brown, half the model's own data: it learns the word, forgets nothing
        idx = [rng.randrange(args.pool) for _ in range(args.batch // 2)]
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
    state = kohya_state(pipe.unet)
    meta = {
        "ss_network_module": "networks.lora",
        "ss_network_dim": str(args.rank),
        "ss_network_alpha": str(args.rank),
        "ss_output_name": args.out.stem,
        "ss_base_model_version": "brushwork-shapes",
        "ss_steps": str(steps_done),
        "ss_training_comment": f'Brushwork example LoRA: the colour word "{COLOUR}". Apache-2.0.',
        "brushwork_training": json.dumps({**{k: str(v) for k, v in vars(args).items()},
                                          "minutes": round(budget.elapsed() / 60, 1)}),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(args.out), metadata=meta)
    print(f"[done] {steps_done} steps, {budget.elapsed() / 60:.1f} min, {len(state)} tensors, "
          f"{args.out.stat().st_size / 1e6:.2f} MB → {args.out}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
