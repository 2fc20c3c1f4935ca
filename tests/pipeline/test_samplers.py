import pytest

from pipeline import SAMPLERS, RequestError, get_sampler
from pipeline.samplers import make_scheduler, sampler_from_name

REQUIRED = [
    "euler", "euler_a", "heun", "lms", "lms_karras", "dpm2", "dpm2_a", "dpmpp_2m",
    "dpmpp_2m_karras", "dpmpp_2m_sde", "dpmpp_2m_sde_karras", "dpmpp_sde", "ddim", "pndm",
    "unipc", "lcm",
]  # fmt: skip


def test_table_has_every_required_id_once_with_display_names():
    ids = [s.id for s in SAMPLERS]
    assert ids == REQUIRED
    assert get_sampler("euler_a").name == "Euler a"
    assert get_sampler("dpmpp_2m").name == "DPM++ 2M"
    assert len({s.name for s in SAMPLERS}) == len(SAMPLERS)


@pytest.fixture(scope="module")
def base_config(tiny_model_dir):
    from diffusers import PNDMScheduler

    return PNDMScheduler.from_pretrained(tiny_model_dir / "scheduler").config


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: s.id)
def test_every_sampler_builds_from_the_model_config(sampler, base_config):
    scheduler = make_scheduler(sampler.id, base_config)
    assert type(scheduler).__name__ == sampler.scheduler
    for key, value in sampler.options.items():
        assert scheduler.config[key] == value
    assert scheduler.config.beta_schedule == "scaled_linear"  # the model's own betas are kept


def test_options_do_not_leak_from_one_sampler_to_the_next(base_config):
    karras = make_scheduler("dpmpp_2m_karras", base_config)
    plain = make_scheduler("dpmpp_2m", base_config)
    assert karras.config.use_karras_sigmas is True
    assert plain.config.use_karras_sigmas is False


def test_unknown_sampler_error_lists_choices():
    with pytest.raises(RequestError, match=r"Unknown sampler 'nope'.*euler_a"):
        get_sampler("nope")


def test_display_names_map_back_to_ids():
    assert sampler_from_name("DPM++ 2M Karras").id == "dpmpp_2m_karras"
    assert sampler_from_name("euler a").id == "euler_a"
    assert sampler_from_name("Restart") is None


@pytest.mark.parametrize("sampler_id", ["dpm2", "euler_a", "dpmpp_2m"])
def test_each_run_gets_a_fresh_scheduler_that_steps_like_a_newly_built_one(sampler_id, base_config):
    """Schedulers come from a cached template (building KDPM2 takes ~200 ms): a used one, or
    one whose `step` was patched, must not change what the next run gets."""
    import inspect

    import diffusers
    import torch

    def denoise(scheduler) -> torch.Tensor:
        takes_generator = "generator" in inspect.signature(scheduler.step).parameters
        extra = {"generator": torch.Generator().manual_seed(3)} if takes_generator else {}
        scheduler.set_timesteps(6)
        sample = torch.ones(1, 4, 4, 4) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(sample, t)
            sample = scheduler.step(model_input * 0.1, t, sample, **extra).prev_sample
        return sample

    sampler = get_sampler(sampler_id)
    built = getattr(diffusers, sampler.scheduler).from_config(base_config, **sampler.options)
    first = make_scheduler(sampler_id, base_config)
    first.step = None  # what a careless caller might do to its own copy
    used = make_scheduler(sampler_id, base_config)
    denoise(used)
    again = make_scheduler(sampler_id, base_config)
    assert again is not used and again is not first
    assert torch.equal(denoise(again), denoise(built))


@pytest.mark.parametrize("sampler", SAMPLERS, ids=lambda s: s.id)
def test_every_sampler_imports_builds_and_denoises(sampler, base_config):
    """Each scheduler class imports and runs a few steps in this environment: some need
    optional packages that diffusers imports only then (LMS: scipy, at build and at each step).
    Under tools/run_tests.sh this runs in a fresh venv, so pyproject.toml must list them."""
    import inspect

    import diffusers
    import torch

    scheduler_cls = getattr(diffusers, sampler.scheduler)  # a placeholder if a backend is missing
    scheduler = make_scheduler(sampler.id, base_config)
    assert isinstance(scheduler, scheduler_cls)
    scheduler.set_timesteps(4)
    takes_generator = "generator" in inspect.signature(scheduler.step).parameters
    extra = {"generator": torch.Generator().manual_seed(0)} if takes_generator else {}
    sample = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    sample = sample * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(sample, t)
        sample = scheduler.step(model_input * 0.1, t, sample, **extra).prev_sample
    assert torch.isfinite(sample).all() and sample.shape == (1, 4, 8, 8)
