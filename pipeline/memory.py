"""Memory planning: estimate what a generation needs and pick savings before running out.

The estimate is deliberately coarse (weights + UNet activations + VAE decode, scaled by pixels
and batch) and errs on the side of enabling a saving: a slightly slower image beats a crash.
Savings are tried cheapest first — VAE tiling and attention slicing cost little speed, CPU
offload costs a lot — and the plan says in words which were chosen and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

GB = 1024**3
HEADROOM = 0.85  # plan to use at most this share of the free memory
# Bytes per output pixel per image in half precision, orders of magnitude for SD-type models
# (the SD VAE decoder peaks near 6 GB at 1024², which is why 8 GB cards need tiling there; the
# UNet's activations with CFG's doubled batch and SDPA attention are about a third of that).
VAE_BYTES_PER_PIXEL = 6000
UNET_BYTES_PER_PIXEL = 2000
TILED_VAE_PIXELS = 512 * 512  # the decoder works on tiles of about this size
SLICED_UNET_SHARE = 0.45  # attention slicing removes roughly half of the UNet's peak


@dataclass(frozen=True)
class MemoryPlan:
    vae_tiling: bool
    attention_slicing: bool
    cpu_offload: bool
    needed_bytes: int
    available_bytes: int

    @property
    def savings(self) -> list[str]:
        names = [("VAE tiling", self.vae_tiling), ("attention slicing", self.attention_slicing),
                 ("model CPU offload", self.cpu_offload)]  # fmt: skip
        return [name for name, on in names if on]

    def describe(self) -> str:
        need, free = self.needed_bytes / GB, self.available_bytes / GB
        if not self.savings:
            return f"Memory: about {need:.1f} GB needed, {free:.1f} GB free."
        return (
            f"Memory: about {need:.1f} GB needed without savings, {free:.1f} GB free; "
            f"using {', '.join(self.savings)}."
        )


def estimate_bytes(
    weights: int, width: int, height: int, batch: int, dtype_bytes: int, *,
    vae_tiling: bool = False, attention_slicing: bool = False, cpu_offload: bool = False,
    largest_module: int = 0,
) -> int:  # fmt: skip
    """Peak bytes of one generation with the given savings switched on."""
    pixels = width * height
    scale = dtype_bytes / 2
    vae_pixels = min(pixels, TILED_VAE_PIXELS) if vae_tiling else pixels
    vae = VAE_BYTES_PER_PIXEL * vae_pixels * batch * scale
    unet = UNET_BYTES_PER_PIXEL * pixels * batch * scale
    if attention_slicing:
        unet *= SLICED_UNET_SHARE
    resident = largest_module if cpu_offload else weights
    return int(resident + max(vae, unet))


def plan_memory(
    weights: int, largest_module: int, width: int, height: int, batch: int, dtype_bytes: int,
    available: int, can_offload: bool,
) -> MemoryPlan:  # fmt: skip
    """The cheapest set of savings whose estimate fits in the free memory."""
    base = dict(weights=weights, width=width, height=height, batch=batch,
                dtype_bytes=dtype_bytes, largest_module=largest_module)  # fmt: skip
    needed = estimate_bytes(**base)
    budget = available * HEADROOM
    steps = [
        {},
        {"vae_tiling": True},
        {"vae_tiling": True, "attention_slicing": True},
    ]
    if can_offload:
        steps.append({"vae_tiling": True, "attention_slicing": True, "cpu_offload": True})
    chosen = steps[-1]
    for savings in steps:
        if estimate_bytes(**base, **savings) <= budget:
            chosen = savings
            break
    return MemoryPlan(
        vae_tiling=chosen.get("vae_tiling", False),
        attention_slicing=chosen.get("attention_slicing", False),
        cpu_offload=chosen.get("cpu_offload", False),
        needed_bytes=needed,
        available_bytes=available,
    )


# The savings in the order they are added, cheapest first; each rung keeps the ones before it.
_LADDER = ("vae_tiling", "attention_slicing", "cpu_offload")


def stronger_plan(plan: MemoryPlan, can_offload: bool) -> MemoryPlan | None:
    """`plan` with the next saving on the ladder switched on, or None if none is left.

    Used after a run really ran out of memory, whatever the estimate said.
    """
    rungs = _LADDER if can_offload else _LADDER[:-1]
    for name in rungs:
        if not getattr(plan, name):
            return replace(plan, **dict.fromkeys(rungs[: rungs.index(name) + 1], True))
    return None


def available_bytes(device: str) -> int:
    """Free memory where the model runs: the GPU's free memory, else the machine's RAM."""
    import torch

    if device == "cuda" and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info()
        return int(free)
    import psutil  # a dependency of accelerate

    return int(psutil.virtual_memory().available)
