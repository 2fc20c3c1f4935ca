import pytest

from pipeline.memory import GB, estimate_bytes, plan_memory

SD15_WEIGHTS = int(2.0 * GB)  # UNet + VAE + text encoder in fp16
SD15_UNET = int(1.6 * GB)


def plan(width, height, free_gb, batch=1, offload=True):
    return plan_memory(SD15_WEIGHTS, SD15_UNET, width, height, batch, 2, int(free_gb * GB), offload)


def test_a_roomy_gpu_needs_no_savings():
    chosen = plan(512, 512, 24)
    assert chosen.savings == []
    assert chosen.describe() == "Memory: about 3.5 GB needed, 24.0 GB free."


def test_savings_are_added_cheapest_first_as_memory_gets_tight():
    assert plan(1024, 1024, 24).savings == []
    assert plan(1024, 1024, 8).savings == ["VAE tiling"]
    assert plan(1024, 1024, 4.5).savings == ["VAE tiling", "attention slicing"]
    tight = plan(1024, 1024, 3.9)
    assert tight.savings == ["VAE tiling", "attention slicing", "model CPU offload"]
    assert "using VAE tiling, attention slicing, model CPU offload" in tight.describe()


def test_offload_is_not_chosen_where_it_is_unavailable():
    assert "model CPU offload" not in plan(1024, 1024, 3.9, offload=False).savings


@pytest.mark.parametrize(
    ("before", "added"),
    [({}, "vae_tiling"), ({"vae_tiling": True}, "attention_slicing"),
     ({"vae_tiling": True, "attention_slicing": True}, "cpu_offload")],
)  # fmt: skip
def test_each_saving_lowers_the_estimate_after_the_cheaper_ones(before, added):
    args = (SD15_WEIGHTS, 1024, 1024, 2, 2)
    without = estimate_bytes(*args, largest_module=SD15_UNET, **before)
    assert estimate_bytes(*args, largest_module=SD15_UNET, **before, **{added: True}) < without


def test_estimate_grows_with_size_batch_and_precision():
    small = estimate_bytes(SD15_WEIGHTS, 512, 512, 1, 2)
    assert estimate_bytes(SD15_WEIGHTS, 1024, 1024, 1, 2) > small
    assert estimate_bytes(SD15_WEIGHTS, 512, 512, 4, 2) > small
    assert estimate_bytes(SD15_WEIGHTS, 512, 512, 1, 4) > small
