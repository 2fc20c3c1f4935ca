"""Train Brushwork's bundled text-to-image model from scratch, on CPU, reproducibly.

One command rebuilds resources/models/brushwork-shapes/ (standard diffusers Stable Diffusion
layout) from nothing but Pillow-drawn shapes and fixed seeds, so the app has a real model on a
fresh, offline machine and every test/demo paints meaningful pictures.

Recipe (defaults = the shipped model), sized to finish within 90 minutes on 2 CPU cores:
  1. byte-level CLIP BPE tokenizer where every caption word is one token;
  2. AutoencoderKL 64x64x3 -> 16x16x4 (4x downsampling), trained, then frozen;
  3. a pool of dataset images encoded once with the frozen encoder (latent means);
     scaling factor = 1/std so UNet latents have unit std; latent->RGB preview factors fitted;
  4. UNet2DConditionModel + small CLIPTextModel trained jointly with classifier-free-guidance
     dropout, min-SNR-5 loss weighting, AdamW warmup+cosine, EMA, bf16 autocast;
  5. a short offset-noise fine-tune of UNet + text encoder (backgrounds follow the prompt);
  6. decoder-only refinement of the VAE on the frozen encoder's latents (sharper shapes);
  7. saved as fp16 safetensors (text encoder fp32) with a model card;
     tools/evaluate_bundled_model.py --write-card fills in the measured figures.

    python tools/train_bundled_model.py            # full recipe
    python tools/train_bundled_model.py --vae-steps 50 --unet-steps 50 --out /tmp/m  # smoke
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    AutoencoderKL,
    DDPMScheduler,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode  # CLIP's byte table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes_dataset as ds

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "resources" / "models" / "brushwork-shapes"
MAX_TOKENS = 32
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
VAE_TIME_FILE = "phase_seconds.json"  # written next to work_dir/vae for --vae-from runs
# Noise schedules (betas). "sd" is Stable Diffusion's; "ddpm" is the original DDPM linear
# schedule, far noisier at high t (alphas_cumprod at t=999: 4e-5 vs 0.0047). Every sampler
# reads the betas from the shipped scheduler config, so either loads like any SD model.
BETAS: dict[str, dict] = {
    "sd": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
    "ddpm": dict(beta_schedule="linear", beta_start=0.0001, beta_end=0.02),
}


def scheduler_kw(betas: str, prediction_type: str) -> dict:
    """Scheduler config shared by training (DDPM noising) and the shipped sampler."""
    return dict(
        num_train_timesteps=1000,
        **BETAS[betas],
        prediction_type=prediction_type,
        steps_offset=1,
    )


# --------------------------------------------------------------------------- tokenizer
def _bpe(word: tuple[str, ...], ranks: dict[tuple[str, str], int]) -> tuple[str, ...]:
    """Reference CLIP BPE on one pre-tokenised word (used only while building merges)."""
    while len(word) > 1:
        pairs = [(ranks.get(p, math.inf), i) for i, p in enumerate(itertools.pairwise(word))]
        best, i = min(pairs)
        if best == math.inf:
            break
        word = (*word[:i], word[i] + word[i + 1], *word[i + 2 :])
    return word


def build_tokenizer_files(words: tuple[str, ...] = ds.CAPTION_WORDS):
    """Vocab dict and merge list for a CLIP-style byte-level BPE.

    The base vocabulary is all 256 byte symbols (plain and with `</w>`), so any text,
    including non-ASCII and emoji, falls back to byte pieces instead of failing or becoming
    <unk>. Merges are appended greedily until each caption word is a single token; appending
    at the lowest priority never changes how earlier words tokenise.
    """
    byte_syms = list(bytes_to_unicode().values())
    vocab_list = byte_syms + [s + "</w>" for s in byte_syms]
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    b2u = bytes_to_unicode()
    for w in words:
        sym = "".join(b2u[b] for b in w.encode("utf-8"))
        word = (*sym[:-1], sym[-1] + "</w>")
        while len(cur := _bpe(word, ranks)) > 1:
            pair = (cur[0], cur[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            vocab_list.append(pair[0] + pair[1])
    vocab_list += [BOS, EOS]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    return vocab, merges


def build_tokenizer(out_dir: Path) -> CLIPTokenizer:
    """Write vocab.json/merges.txt and load them back as a CLIPTokenizer."""
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_tokenizer_files()
    raw = out_dir / "_raw"
    raw.mkdir(exist_ok=True)
    (raw / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (raw / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    tok = CLIPTokenizer(
        vocab=str(raw / "vocab.json"),
        merges=str(raw / "merges.txt"),
        model_max_length=MAX_TOKENS,
    )
    tok.model_max_length = MAX_TOKENS
    for w in ds.CAPTION_WORDS:
        ids = tok(w, add_special_tokens=False).input_ids
        assert len(ids) == 1, (w, ids)
    return tok


def tokenize(tok: CLIPTokenizer, texts: list[str]) -> torch.Tensor:
    """Exactly the pipeline's text preprocessing (pad to max length, truncate)."""
    return tok(
        texts,
        padding="max_length",
        max_length=tok.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids


# --------------------------------------------------------------------------- models
def make_vae(channels: tuple[int, ...] = (32, 64, 128)) -> AutoencoderKL:
    """Small 4x AutoencoderKL: 64x64x3 <-> 16x16x4 (3 levels => vae_scale_factor 4).

    4x rather than SD's 8x: measured here, an 8x VAE of this size reconstructed far more
    slowly (L1 0.47 vs 0.29 after 100 steps), and the CPU budget has no room for that.
    GroupNorm uses 8 groups: 32 groups on 32 channels is instance norm, which erases the
    flat background colour and stalled training.

    The log-variance half of the encoder output starts at -12 (std 0.0025): with the tiny KL
    weight it would otherwise start at std 1 and drown the latent means in sampling noise,
    which measurably stalled reconstruction; img2img/inpaint also sample from it.
    """
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(channels),
        up_block_types=("UpDecoderBlock2D",) * len(channels),
        block_out_channels=channels,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=ds.IMAGE_SIZE,
    )
    with torch.no_grad():
        conv = vae.quant_conv  # the last layer before the (mean, logvar) split
        half = conv.out_channels // 2
        conv.weight[half:].mul_(0.01)
        conv.bias[half:].fill_(-12.0)
    return vae


def make_text_encoder(vocab_size: int, bos_id: int, eos_id: int) -> CLIPTextModel:
    """Tiny CLIP text transformer; captions are short and the vocabulary is ~60 words."""
    cfg = CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        projection_dim=128,
    )
    return CLIPTextModel(cfg)


def make_unet(
    latent_size: int = 16, conv_in_kernel: int = 3, center_input: bool = False
) -> UNet2DConditionModel:
    """UNet over 16x16x4 latents: 16 -> 8 -> 4, so the deepest level sees the whole image
    (absolute position); cross-attention at the two low-resolution levels where it is
    cheap and where layout is decided."""
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(64, 128, 128),
        layers_per_block=1,
        cross_attention_dim=128,
        attention_head_dim=4,
        norm_num_groups=16,
        conv_in_kernel=conv_in_kernel,
        center_input_sample=center_input,
    )


def make_scheduler(betas: str, prediction_type: str) -> EulerDiscreteScheduler:
    """Euler with 'trailing' spacing, so sampling starts at t=999 (pure noise)."""
    return EulerDiscreteScheduler(
        **scheduler_kw(betas, prediction_type), timestep_spacing="trailing"
    )


# --------------------------------------------------------------------------- helpers
def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warmup then cosine decay to 5% of peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


class Progress:
    """Prints step, loss, rate and ETA for a phase, at most every `every` seconds."""

    def __init__(self, name: str, total: int, every: float = 30.0) -> None:
        self.name, self.total, self.every = name, total, every
        self.t0 = self.last = time.time()
        self.loss_acc, self.n = 0.0, 0

    def update(self, step: int, loss: float) -> None:
        self.loss_acc += loss
        self.n += 1
        now = time.time()
        if now - self.last >= self.every or step + 1 == self.total:
            rate = (now - self.t0) / (step + 1)
            eta = rate * (self.total - step - 1)
            print(
                f"[{self.name}] step {step + 1}/{self.total} loss {self.loss_acc / self.n:.4f} "
                f"{rate:.2f}s/step elapsed {(now - self.t0) / 60:.1f}m ETA {eta / 60:.1f}m",
                flush=True,
            )
            self.last, self.loss_acc, self.n = now, 0.0, 0


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1]."""
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


# --------------------------------------------------------------------------- phases
def recon_loss(rec: torch.Tensor, x: torch.Tensor, args) -> tuple[torch.Tensor, torch.Tensor]:
    """Foreground-weighted L1 + MSE plus an edge (image-gradient) L1; returns (loss, plain MSE).

    Why: with plain pixel losses the flat background is most of every image, so the decoder
    learned backgrounds and colours first and blurred the thin parts of shapes: measured, its
    reconstructions scored 0% on small stars and 22% on small rings with the checker. Pixels
    that differ from the background (the corner pixel is always background in this dataset)
    weigh `fg_weight` times more, and matching finite differences keeps edges and star points.
    """
    bg = x[:, :, :1, :1]
    fg = ((x - bg).abs().sum(1, keepdim=True) > 0.1).float()
    w = 1.0 + (args.vae_fg_weight - 1.0) * fg
    err = rec - x
    loss = (w * (err.abs() + err.pow(2))).mean()
    if args.vae_edge_weight:
        dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
        dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
        loss = loss + args.vae_edge_weight * (
            (dx(rec) - dx(x)).abs().mean() + (dy(rec) - dy(x)).abs().mean()
        )
    return loss, err.pow(2).mean()


def train_vae(args, vae: AutoencoderKL) -> None:
    """Reconstruction (L1 + MSE) with a tiny KL term: a near-deterministic autoencoder."""
    rng = random.Random(args.seed + 1)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    prog = Progress("vae", args.vae_steps)
    vae.train()
    for step in range(args.vae_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.vae_steps, args.vae_lr, 100)
        x = to_tensor(ds.sample_batch(rng, args.vae_batch, include_held_out=True)[0])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            post = vae.encode(x).latent_dist
            z = post.sample()
            rec = vae.decode(z).sample
        rec = rec.float()
        kl = post.kl().mean() / z[0].numel()
        loss = recon_loss(rec, x, args)[0] + 1e-6 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        prog.update(step, loss.item())
    vae.eval()
    vae.requires_grad_(False)


def refine_decoder(args, vae: AutoencoderKL) -> float:
    """Extra decoder-only training on the frozen encoder's latent means.

    The encoder (hence the UNet's latent space) stays fixed, so this can run after or
    alongside UNet training; it sharpens small shapes, which the measured checker accuracy on
    plain VAE reconstructions showed to be the bottleneck: after 600 steps small stars came
    back as pentagons (0 of 12 recognised, large stars 9 of 12), after 2100 steps 5 of 12
    small and 12 of 12 large stars were stars again (evaluate_bundled_model.vae_reconstruction).
    Deterministic: latent means, its own seeded data stream. Returns the final recon MSE.
    """
    rng = random.Random(args.seed + 5)
    vae.decoder.requires_grad_(True)
    vae.post_quant_conv.requires_grad_(True)
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=args.decoder_lr, weight_decay=0.0)
    prog = Progress("decoder", args.decoder_steps)
    vae.decoder.train()
    mse = float("nan")
    for step in range(args.decoder_steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.decoder_steps, args.decoder_lr, 50)
        x = to_tensor(ds.sample_batch(rng, args.vae_batch, include_held_out=True)[0])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            with torch.no_grad():
                z = vae.encode(x).latent_dist.mean
            rec = vae.decode(z).sample
        loss, mse_t = recon_loss(rec.float(), x, args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        mse = mse_t.item()
        prog.update(step, loss.item())
    vae.eval()
    vae.requires_grad_(False)
    return mse


@torch.no_grad()
def encode_pool(args, vae: AutoencoderKL) -> tuple[torch.Tensor, list, np.ndarray]:
    """Encode a fixed pool of training scenes once; UNet steps then skip the encoder.

    The images never contain a held-out colour x shape x position triple; captions are
    re-drawn per step (size/position words randomly dropped).
    """
    rng = random.Random(args.seed + 2)
    lat, scenes, imgs = [], [], []
    t0 = time.time()
    for i in range(0, args.pool, 256):
        arr, sc = ds.sample_batch(rng, min(256, args.pool - i))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            lat.append(vae.encode(to_tensor(arr)).latent_dist.mean.float())
        scenes += sc
        if len(imgs) < 2:
            imgs.append(arr)
    print(f"[pool] encoded {args.pool} images in {time.time() - t0:.0f}s", flush=True)
    return torch.cat(lat), scenes, np.concatenate(imgs)


@torch.no_grad()
def fit_latent_rgb(latents: torch.Tensor, images: np.ndarray) -> dict:
    """Least-squares latent->RGB preview factors (what the app uses for live previews)."""
    n = images.shape[0]
    z = latents[:n].permute(0, 2, 3, 1).reshape(-1, 4).double()
    x = to_tensor(images)
    target = F.adaptive_avg_pool2d(x, latents.shape[-1]).permute(0, 2, 3, 1).reshape(-1, 3)
    a = torch.cat([z, torch.ones(z.shape[0], 1, dtype=z.dtype)], 1)
    sol = torch.linalg.lstsq(a, target.double()).solution
    pred = a @ sol
    rmse = (pred - target.double()).pow(2).mean().sqrt().item()
    return {
        "factors": sol[:4].tolist(),
        "bias": sol[4].tolist(),
        "rmse": rmse,
        "n_images": n,
    }


def train_unet(
    args,
    unet,
    text_encoder,
    tok,
    latents: torch.Tensor,
    scenes: list,
    save_cb=None,
    phase: str = "unet",
    steps: int | None = None,
    lr: float | None = None,
    offset_noise: float = 0.0,
    seed_offset: int = 3,
):
    """Epsilon-prediction diffusion training with CFG dropout, min-SNR weighting and EMA.

    `offset_noise` adds a per-image, per-channel constant to the noise. Why: with SD's
    betas, 6.8% of the clean latent survives at t=999, and on flat backgrounds its spatial
    mean gives the background away; without offset noise the model learned to read the
    background off that leak instead of the prompt, and from pure noise at sampling time
    painted random backgrounds (measured: 2-15% background accuracy).
    """
    steps = steps or args.unet_steps
    lr = lr or args.unet_lr
    rng = random.Random(args.seed + seed_offset)
    gen = torch.Generator().manual_seed(args.seed + seed_offset + 1)
    noise_sched = DDPMScheduler(**scheduler_kw(args.betas, args.prediction_type))
    alphas = noise_sched.alphas_cumprod
    snr = alphas / (1 - alphas)
    v_pred = args.prediction_type == "v_prediction"
    # min-SNR-gamma weighting (Hang et al. 2023), in its form for each prediction target.
    w_all = torch.clamp(snr, max=args.min_snr) / (snr + 1 if v_pred else snr)

    params = trainable(args, unet, text_encoder)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    ema = [p.detach().clone() for p in params]
    unet.train()
    text_encoder.train(args.train_text_encoder)
    prog = Progress(phase, steps)
    n_pool = latents.shape[0]
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr, min(200, steps // 8))
        idx = [rng.randrange(n_pool) for _ in range(args.unet_batch)]
        caps = ["" if rng.random() < args.cfg_dropout else ds.caption(scenes[i], rng) for i in idx]
        z0 = latents[idx]
        noise = torch.randn(z0.shape, generator=gen)
        if offset_noise:
            noise = noise + offset_noise * torch.randn((*z0.shape[:2], 1, 1), generator=gen)
        t = torch.randint(0, 1000, (len(idx),), generator=gen)
        zt = noise_sched.add_noise(z0, noise, t)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            with torch.set_grad_enabled(args.train_text_encoder):
                cond = text_encoder(tokenize(tok, caps))[0]
            pred = unet(zt, t, encoder_hidden_states=cond).sample
        target = noise_sched.get_velocity(z0, noise, t) if v_pred else noise
        per = (pred.float() - target).pow(2).mean(dim=(1, 2, 3))
        loss = (per * w_all[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params, strict=True):
                e.lerp_(p.detach(), 1 - decay)
        prog.update(step, loss.item())
        if phase == "unet" and args.stop_after and step + 1 >= args.stop_after:
            print(f"[unet] stopping after {step + 1} steps (--stop-after)", flush=True)
            break
        if save_cb and args.ckpt_every and (step + 1) % args.ckpt_every == 0 and step + 1 < steps:
            save_cb(ema, f"step{step + 1}")
    return ema


def trainable(args, unet, text_encoder) -> list[torch.nn.Parameter]:
    """The parameters the diffusion phases train: the UNet, and the text encoder only if asked.

    Why the text encoder stays frozen at its seeded random init by default: trained jointly,
    it learned within a few hundred steps to suppress the words the UNet did not use yet.
    Measured on the first shipped model, swapping 'left' for 'right' changed the prompt
    embedding by 5% (27% at init) while a colour word changed it by 44%, so position words
    never reached the UNet (position accuracy 17-23%, chance is 20%). A frozen random
    transformer keeps every word distinct for as long as the UNet needs to learn it.
    """
    text_encoder.requires_grad_(args.train_text_encoder)
    params = list(unet.parameters())
    if args.train_text_encoder:
        params += list(text_encoder.parameters())
    return params


def reused_vae_seconds(folder: Path) -> float:
    """How long the VAE phase that produced `folder` took (0 if it was not recorded)."""
    f = folder / VAE_TIME_FILE
    return float(json.loads(f.read_text())["seconds"]) if f.is_file() else 0.0


def swap_in(params: list[torch.nn.Parameter], values: list[torch.Tensor]) -> None:
    """Copy (EMA) values into live parameters."""
    with torch.no_grad():
        for p, v in zip(params, values, strict=True):
            p.copy_(v)


def add_slow_tokenizer_files(out: Path, tok: CLIPTokenizer) -> None:
    """Also ship vocab.json + merges.txt: older transformers' CLIPTokenizer (the class named in
    model_index.json) is the slow one and cannot read tokenizer.json alone."""
    vocab, merges = build_tokenizer_files()
    assert vocab == tok.get_vocab()
    tdir = out / "tokenizer"
    (tdir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (tdir / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )


def save_pipeline(out: Path, vae, text_encoder, tok, unet, latent_rgb: dict, meta: dict) -> None:
    """Save the standard SD layout in fp16 safetensors, plus preview factors and metadata."""
    import copy

    out.mkdir(parents=True, exist_ok=True)
    pipe = StableDiffusionPipeline(
        vae=copy.deepcopy(vae).half(),
        # fp32: it is tiny (~2 MB), and transformers keeps the saved dtype when loading
        # without torch_dtype, which would feed fp16 embeddings into an fp32 UNet.
        text_encoder=copy.deepcopy(text_encoder).float(),
        tokenizer=tok,
        unet=copy.deepcopy(unet).half(),
        scheduler=make_scheduler(meta["betas"], meta["prediction_type"]),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out, safe_serialization=True)
    add_slow_tokenizer_files(out, tok)
    (out / "latent_rgb.json").write_text(
        json.dumps({"factors": latent_rgb["factors"], "bias": latent_rgb["bias"]}, indent=1)
    )
    (out / "training_meta.json").write_text(json.dumps(meta, indent=1))


def write_model_card(out: Path, meta: dict) -> None:
    """Model card: what the model knows and how it was made; evaluation filled in later.

    tools/evaluate_bundled_model.py --write-card replaces the section between the EVAL
    markers with measured figures, so the card never claims numbers nobody measured.
    """
    held = ", ".join(f"{c} {s} {p}" for c, s, p in ds.held_out_triples())
    pred = meta.get("prediction_type", "epsilon")
    reused = (
        " (the VAE phase was run once and reused with `--vae-from`; its measured time is included)"
        if meta.get("vae_from")
        else ""
    )
    te_state = (
        "trained jointly"
        if meta.get("train_text_encoder")
        else "frozen at its seeded random initialisation"
    )
    text = f"""---
license: apache-2.0
library_name: diffusers
pipeline_tag: text-to-image
inference:
  parameters:
    num_inference_steps: 20
    guidance_scale: 5
---

# brushwork-shapes

Brushwork's bundled text-to-image model: a tiny Stable-Diffusion-layout model (UNet2DCondition
+ AutoencoderKL + CLIP text encoder, fp16 safetensors) trained from scratch on procedurally drawn
shapes, so the app works offline on a fresh machine. It is a toy: it paints simple flat shapes on
flat backgrounds and nothing else.

## What it knows

- Native size: **64x64** (latents 16x16x4, VAE scale factor 4, `scaling_factor`
  {meta["scaling_factor"]:.4f} so latents have unit std). Other sizes are out of distribution.
- Vocabulary (every word is one token; anything else is tokenized byte-wise and ignored by the
  model in practice):
  - colours: {", ".join(ds.COLOURS)}
  - shapes: {", ".join(ds.SHAPES)}
  - sizes: {", ".join(ds.SIZES)}
  - positions: on the left, on the right, at the top, at the bottom, in the center
- Prompt template: `a [size] <colour> <shape> [position], <colour> background`, or two shapes:
  `a large red circle on the left and a small blue star on the right, yellow background`
  (two-shape scenes use opposite positions: left/right or top/bottom). Size and position may
  be omitted.
- Recommended sampler: **Euler** (`EulerDiscreteScheduler`, the shipped config:
  {pred}, trailing timestep spacing), **20 steps, CFG 5**. Euler a and other samplers built with
  `from_config` also work.
- Live previews: `latent_rgb.json` holds least-squares latent->RGB factors (latents in UNet
  space -> RGB in [-1, 1] at latent resolution), fitted on {meta["latent_rgb_images"]} dataset
  images; fit RMSE {meta["latent_rgb_rmse"]:.3f} (in [-1, 1] units).

## Training data and split

Procedurally generated with Pillow (`tools/shapes_dataset.py`), fixed seeds, nothing
downloaded: one shape (80%) or two shapes (20%) in {len(ds.COLOURS)} named colours,
{len(ds.SHAPES)} kinds, 2 sizes and 5 positions on a flat background of another palette colour,
anti-aliased by 4x supersampling. Small shapes are 16-19 px across and large ones
23-30 px (the first shipped model drew small ones at 12-16 px, too small for its 4x VAE to
keep star points and ring holes). Captions randomly drop the size or position words (25% each)
so short prompts work; 10% of captions are empty for classifier-free guidance.

Held-out split: 25 of the 250 colour x shape x position triples never appear in any training
image or caption (every colour still appears with every shape and every position):
{held}.

## Training

`python tools/train_bundled_model.py` (seed {meta["seed"]}), on {meta["machine"]}:

- VAE: {meta["vae_steps"]} steps, batch {meta["vae_batch"]}, foreground-weighted L1 + MSE
  plus an edge (image-gradient) L1 and a 1e-6 KL term, AdamW warmup + cosine, then frozen;
  then {meta.get("decoder_steps", 0)} decoder-only steps on the frozen encoder's latents
  ({meta["vae_minutes"]} min in all; reconstruction MSE {meta["vae_recon_mse"]:.4f} in
  [-1, 1] units). The encoder's latents keep star points; it was the decoder that rounded
  small stars into pentagons: after 600 decoder steps the checker recognised 0 of 12 small
  and 9 of 12 large stars in reconstructions, after 2100 steps 5 of 12 small and 12 of 12
  large (the "VAE alone" line of the evaluation below measures the shipped decoder).
- UNet: {meta["unet_steps"]} steps, batch {meta["unet_batch"]}, {meta["prediction_type"]}
  target, min-SNR-5 weighting, offset noise {meta.get("unet_offset_noise", 0)} (per image and
  channel), AdamW warmup + cosine, EMA of weights, bf16 autocast, on a pool of {meta["pool"]}
  pre-encoded images ({meta["unet_minutes"]} min).
  - The text encoder is {te_state}: trained jointly (first shipped model), it
    learned to suppress the position words before the UNet used them, and position accuracy
    stayed at chance.
  - `conv_in_kernel` {meta.get("conv_in_kernel", 3)} with `center_input_sample`
    {meta.get("center_input", False)}: the input convolution sees how far each latent pixel is
    from every border, so the UNet knows where it is drawing (standard UNet2DConditionModel
    options; diffusers applies them when it loads the folder).
  - Offset noise: SD's betas leave 6.8% of the image at t=999, and on flat backgrounds its
    mean gives the background away; without offset noise the model painted random
    backgrounds from pure noise.
- Total wall-clock: {meta["total_minutes"]} min{reused}.

## Evaluation

`python tools/evaluate_bundled_model.py` generates held-out prompts with fixed seeds and scores
them with an independent geometric checker (palette colours, bounding box, template match
against the renderer's outlines; it never uses the model).

<!-- EVAL START -->
(not evaluated yet)
<!-- EVAL END -->

## License

Apache-2.0, like Brushwork. Trained only on procedurally generated data.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--work-dir", type=Path, default=REPO / "build" / "bundled-model")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--vae-steps", type=int, default=2000)
    p.add_argument("--vae-batch", type=int, default=8)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--pool", type=int, default=8000)
    p.add_argument("--decoder-steps", type=int, default=2100)
    p.add_argument("--decoder-lr", type=float, default=3e-4)
    p.add_argument("--unet-steps", type=int, default=5000)
    p.add_argument("--unet-batch", type=int, default=32)
    p.add_argument("--unet-lr", type=float, default=8e-4)
    p.add_argument("--cfg-dropout", type=float, default=0.1)
    p.add_argument("--offset-steps", type=int, default=0, help="offset-noise fine-tune steps")
    p.add_argument("--offset-lr", type=float, default=2e-4)
    p.add_argument("--offset-noise", type=float, default=0.2)
    p.add_argument("--min-snr", type=float, default=5.0)
    p.add_argument("--prediction-type", choices=("epsilon", "v_prediction"), default="v_prediction")
    p.add_argument(
        "--unet-offset-noise", type=float, default=0.2, help="offset noise in the main phase"
    )
    p.add_argument("--train-text-encoder", action="store_true", help="train it jointly")
    p.add_argument("--betas", choices=tuple(BETAS), default="sd")
    p.add_argument("--conv-in-kernel", type=int, default=17)
    p.add_argument("--center-input", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--vae-channels", default="32,64,128", help="one level per entry")
    p.add_argument("--vae-fg-weight", type=float, default=4.0)
    p.add_argument("--vae-edge-weight", type=float, default=1.0)
    p.add_argument("--ema", type=float, default=0.998)
    p.add_argument("--ckpt-every", type=int, default=1000)
    p.add_argument(
        "--stop-after",
        type=int,
        default=0,
        help="stop the UNet phase after N steps of the full schedule (same as checkpoint N)",
    )
    # One intra-op thread: on a 2-core machine shared with other jobs, 2 threads spent most of
    # their time in OpenMP barriers waiting for a descheduled partner (measured 7.5 s/step vs
    # 0.65 s/step for the VAE with 1 thread). Raise it on a dedicated machine.
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-bf16", dest="bf16", action="store_false")
    p.add_argument(
        "--vae-from",
        type=Path,
        help="reuse work_dir/vae of an earlier run (same VAE phase; its time is counted)",
    )
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    # Tiny weights/gradients turn denormal after a few AdamW steps and make CPU maths ~10x
    # slower (measured); flushing them to zero costs nothing in accuracy here.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    t_start = time.time()
    args.work_dir.mkdir(parents=True, exist_ok=True)
    print(f"[setup] args: {vars(args)}", flush=True)

    tok = build_tokenizer(args.work_dir / "tokenizer_build")
    vocab = tok.get_vocab()
    text_encoder = make_text_encoder(len(vocab), vocab[BOS], vocab[EOS])

    if args.vae_from:
        vae = AutoencoderKL.from_pretrained(args.vae_from, dtype=torch.float32)
        vae.requires_grad_(False).eval()
        # the phase's measured time travels with the saved VAE, so the totals stay honest
        vae_time = reused_vae_seconds(args.vae_from)
    else:
        vae = make_vae(tuple(int(c) for c in args.vae_channels.split(",")))
        t0 = time.time()
        train_vae(args, vae)
        vae_time = time.time() - t0
        vae.save_pretrained(args.work_dir / "vae")
        (args.work_dir / "vae" / VAE_TIME_FILE).write_text(json.dumps({"seconds": vae_time}))
    print(f"[vae] params {sum(p.numel() for p in vae.parameters()) / 1e6:.2f}M", flush=True)

    vae_time_reused = vae_time if args.vae_from else 0.0
    latents, scenes, images = encode_pool(args, vae)
    std = latents.std().item()
    scaling = 1.0 / std
    vae.register_to_config(scaling_factor=scaling)
    latents = latents * scaling
    latent_rgb = fit_latent_rgb(latents, images)
    with torch.no_grad():
        rec = vae.decode(latents[:256] / scaling).sample
        vae_mse = F.mse_loss(rec, to_tensor(images[:256])).item()
    print(
        f"[pool] latent std {std:.4f} -> scaling_factor {scaling:.4f}; "
        f"VAE recon MSE {vae_mse:.5f}; "
        f"latent_rgb rmse {latent_rgb['rmse']:.4f}",
        flush=True,
    )

    # Seeded here so the UNet starts the same whether the VAE was trained in this run or
    # loaded with --vae-from (VAE training draws from the global generator).
    torch.manual_seed(args.seed + 10)
    unet = make_unet(latents.shape[-1], args.conv_in_kernel, args.center_input)
    print(
        f"[unet] params {sum(p.numel() for p in unet.parameters()) / 1e6:.2f}M, text encoder "
        f"{sum(p.numel() for p in text_encoder.parameters()) / 1e6:.2f}M",
        flush=True,
    )
    params = trainable(args, unet, text_encoder)
    t_unet = time.time()
    unet_time: float | None = None  # set when the UNet phases end; checkpoints measure so far

    def meta(steps_done: int) -> dict:
        return {
            "seed": args.seed,
            "prediction_type": args.prediction_type,
            "betas": args.betas,
            "vae_steps": args.vae_steps,
            "vae_batch": args.vae_batch,
            "decoder_steps": args.decoder_steps,
            "offset_steps": args.offset_steps,
            "unet_steps": steps_done,
            "unet_batch": args.unet_batch,
            "pool": args.pool,
            "vae_minutes": round(vae_time / 60, 1),
            "unet_minutes": round((unet_time or time.time() - t_unet) / 60, 1),
            "total_minutes": round((time.time() - t_start + vae_time_reused) / 60, 1),
            "vae_from": str(args.vae_from) if args.vae_from else None,
            "vae_recon_mse": vae_mse,
            "latent_rgb_rmse": latent_rgb["rmse"],
            "latent_rgb_images": latent_rgb["n_images"],
            "scaling_factor": scaling,
            "unet_offset_noise": args.unet_offset_noise,
            "train_text_encoder": args.train_text_encoder,
            "conv_in_kernel": args.conv_in_kernel,
            "center_input": args.center_input,
            "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} thread(s), bf16 autocast={args.bf16}",
        }

    def save_ckpt(ema: list[torch.Tensor], tag: str) -> None:
        live = [q.detach().clone() for q in params]
        swap_in(params, ema)
        steps = int(tag.removeprefix("step"))
        save_pipeline(args.work_dir / tag, vae, text_encoder, tok, unet, latent_rgb, meta(steps))
        swap_in(params, live)
        print(f"[ckpt] saved {args.work_dir / tag}", flush=True)

    ema = train_unet(
        args,
        unet,
        text_encoder,
        tok,
        latents,
        scenes,
        save_ckpt,
        offset_noise=args.unet_offset_noise,
    )
    swap_in(params, ema)
    if args.offset_steps:
        ema = train_unet(
            args,
            unet,
            text_encoder,
            tok,
            latents,
            scenes,
            phase="offset",
            steps=args.offset_steps,
            lr=args.offset_lr,
            offset_noise=args.offset_noise,
            seed_offset=7,
        )
        swap_in(params, ema)
    unet_time = time.time() - t_unet
    if args.decoder_steps:
        t0 = time.time()
        refine_decoder(args, vae)
        with torch.no_grad():
            rec = vae.decode(latents[:256] / scaling).sample
            vae_mse_refined = F.mse_loss(rec, to_tensor(images[:256])).item()
        print(f"[decoder] recon MSE {vae_mse:.5f} -> {vae_mse_refined:.5f}", flush=True)
        vae_mse = vae_mse_refined
        vae_time += time.time() - t0
    unet.eval()
    text_encoder.eval()
    done = args.stop_after or args.unet_steps
    save_pipeline(args.out, vae, text_encoder, tok, unet, latent_rgb, meta(done))
    write_model_card(args.out, json.loads((args.out / "training_meta.json").read_text()))
    print(f"[done] wrote {args.out} in {(time.time() - t_start) / 60:.1f} min total", flush=True)


if __name__ == "__main__":
    main()
