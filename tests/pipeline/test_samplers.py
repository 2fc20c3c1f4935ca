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
