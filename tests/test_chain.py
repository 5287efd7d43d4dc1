"""Building the provider chain from the environment and the config file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from narrate.config import load_settings
from narrate.engine.chain import build_chain
from narrate.errors import ConfigError


def chain_for(home: Path, config: str = "", names: list[str] | None = None, **env: str):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(config)
    settings = load_settings({"NARRATE_HOME": str(home), **env})
    chain = build_chain(names, settings, timeout=30)
    for provider in chain.providers:
        asyncio.run(provider.aclose())
    return chain.providers, chain.left_out


def test_default_chain_without_keys_is_edge_then_espeak(narrate_home):
    providers, left_out = chain_for(narrate_home)

    assert [p.name for p in providers] == ["edge", "espeak"]
    assert [(item.provider, item.reason) for item in left_out] == [
        ("elevenlabs", "no_key"),
        ("deepgram", "no_key"),
    ]


@pytest.mark.parametrize("value", [",", " , ,"])
def test_a_narrate_chain_of_commas_alone_is_refused_not_taken_as_unset(
    narrate_home, value
):
    with pytest.raises(ConfigError, match="NARRATE_CHAIN"):
        chain_for(narrate_home, NARRATE_CHAIN=value)


def test_a_blank_narrate_chain_means_the_default_chain(narrate_home):
    providers, _ = chain_for(narrate_home, NARRATE_CHAIN="  ")

    assert [p.name for p in providers] == ["edge", "espeak"]


def test_keys_from_the_environment_or_the_config_file_bring_providers_in(narrate_home):
    config = '[providers.deepgram]\napi_key = "from-file"\n'

    providers, left_out = chain_for(narrate_home, config, ELEVENLABS_API_KEY="from-env")

    assert [p.name for p in providers] == ["elevenlabs", "deepgram", "edge", "espeak"]
    assert left_out == []


def test_default_provider_concurrency_caps_fit_common_plans(narrate_home):
    providers, _ = chain_for(narrate_home, ELEVENLABS_API_KEY="k", DEEPGRAM_API_KEY="k")

    caps = {p.name: p.max_concurrency for p in providers}
    assert caps == {"elevenlabs": 3, "deepgram": 8, "edge": 4, "espeak": 1}


def test_config_file_sets_caps_models_and_retries(narrate_home):
    config = """
[providers.elevenlabs]
model = "eleven_flash_v2_5"
max_concurrency = 10
retries = 1
backoff = 2
"""
    providers, _ = chain_for(
        narrate_home, config, ["elevenlabs"], ELEVENLABS_API_KEY="k"
    )

    eleven = providers[0]
    assert (eleven.max_concurrency, eleven.text_limit("v")) == (10, 40_000)
    assert (eleven.retry.retries, eleven.retry.backoff) == (1, 2.0)


@pytest.mark.parametrize(
    ("config", "names", "env", "words"),
    [
        ("", ["deepgram"], {}, "DEEPGRAM_API_KEY"),
        ("", ["espeak", "espeak"], {}, "twice"),
        ("", ["polly"], {}, "unknown provider"),
        ("[providers.edge]\nvoice = 'x'\n", None, {}, "providers.edge.voice"),
        ("[providers.edge]\nmax_concurrency = 0\n", None, {}, "max_concurrency"),
        ("[providers.edge]\nmax_concurrency = 2.5\n", None, {}, "whole number"),
        ("[providers.edge]\ncooldown = inf\n", None, {}, "cooldown"),
        ("[providers.edge]\ncooldown = 1e12\n", None, {}, "cooldown"),
        ("[providers.edge]\nbackoff = nan\n", None, {}, "backoff"),
        ("[providers.edge]\nbackoff = inf\n", None, {}, "backoff"),
        ("[providers.edge]\nretries = 2.5\n", None, {}, "retries"),
        ("[providers.edge]\nfailure_threshold = 0\n", None, {}, "failure_threshold"),
        ("[providers.elevenlab]\napi_key = 'k'\n", None, {}, "unknown provider"),
        ("chain = []\n", None, {}, "empty"),
        ("[providers.edge]\nretries = -1\n", None, {}, "retries"),
        (
            "[providers.elevenlabs]\nmodel = 5\n",
            ["elevenlabs"],
            {"ELEVENLABS_API_KEY": "k"},
            "providers.elevenlabs.model",
        ),
        (
            "",
            None,
            {"ELEVENLABS_API_KEY": "k", "NARRATE_ELEVENLABS_URL": "ftp://x"},
            "URL",
        ),
        ("", None, {"DEEPGRAM_API_KEY": "line\nbreak"}, "space or control"),
        (
            "[providers.deepgram]\nencoding = 'wav'\n",
            None,
            {"DEEPGRAM_API_KEY": "k"},
            "encoding",
        ),
    ],
)
def test_bad_provider_settings_are_configuration_errors(
    narrate_home, config, names, env, words
):
    with pytest.raises(ConfigError, match=words):
        chain_for(narrate_home, config, names, **env)


def test_a_bad_key_is_refused_without_showing_it(narrate_home):
    with pytest.raises(ConfigError) as caught:
        chain_for(narrate_home, DEEPGRAM_API_KEY="secret value")

    assert "secret" not in str(caught.value)
