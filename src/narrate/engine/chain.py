"""The chain of providers a run tries, built from flags, environment and config.

A chain named by `--chain`, `NARRATE_CHAIN` or the config file is taken as
asked: a provider in it without its key is a configuration error.

The default chain is elevenlabs, deepgram, edge, espeak, leaving out the
providers that are not configured: ElevenLabs and Deepgram need an API key,
from the environment (`ELEVENLABS_API_KEY`, `DEEPGRAM_API_KEY`) or the config
file. Naming a provider without its key in an explicit chain is an error.
Base URLs come from `NARRATE_ELEVENLABS_URL` and `NARRATE_DEEPGRAM_URL` or the
config file, for regional hosts, proxies and tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from narrate.config import Settings, number
from narrate.engine.breaker import BreakerPolicy
from narrate.engine.results import LeftOut
from narrate.errors import ConfigError
from narrate.providers import DEFAULT_CHAIN
from narrate.providers.base import Provider
from narrate.providers.retry import RetryPolicy
from narrate.voices import Voice, load_catalog

_KEY_VARIABLES = {"elevenlabs": "ELEVENLABS_API_KEY", "deepgram": "DEEPGRAM_API_KEY"}
_URL_VARIABLES = {
    "elevenlabs": "NARRATE_ELEVENLABS_URL",
    "deepgram": "NARRATE_DEEPGRAM_URL",
}
_COMMON_KEYS = {
    "retries",
    "backoff",
    "max_backoff",
    "max_retry_after",
    "failure_threshold",
    "cooldown",
}
_SETTINGS = {
    "elevenlabs": {
        "api_key",
        "base_url",
        "model",
        "output_format",
        "max_concurrency",
        "monthly_chars",
    },
    "deepgram": {"api_key", "base_url", "encoding", "max_concurrency", "monthly_chars"},
    "edge": {"max_concurrency", "monthly_chars"},
    "espeak": set(),
}


@dataclass(frozen=True)
class Chain:
    """The providers to try in order, those left out, each one's breaker policy
    and monthly character budget (`monthly_chars` in its config table)."""

    providers: list[Provider]
    left_out: list[LeftOut]
    breakers: dict[str, BreakerPolicy]
    budgets: dict[str, int] = field(default_factory=dict)


def build_chain(
    names: Sequence[str] | None, settings: Settings, timeout: float
) -> Chain:
    """The providers of the chain, and those the default chain had to leave out."""
    check_config(settings)
    explicit = names is not None or settings.chain is not None
    wanted = list(names if names is not None else settings.chain or DEFAULT_CHAIN)
    _check_names(wanted)

    chain: list[Provider] = []
    left_out: list[LeftOut] = []
    for name in wanted:
        missing = _missing_key(name, settings)
        if missing and explicit:
            raise ConfigError(f"{name} is in the chain but has no API key: {missing}")
        if missing:
            left_out.append(LeftOut(name, "no_key", f"no API key: {missing}"))
            continue
        chain.append(_build(name, settings, timeout))
    if not chain:
        raise ConfigError("no provider of the chain can run; add espeak to the chain")
    breakers = {
        provider.name: replace(
            BreakerPolicy.from_settings(provider.name, _table(provider.name, settings)),
            fingerprint=_fingerprint(provider.name, settings),
        )
        for provider in chain
    }
    budgets = {
        provider.name: budget
        for provider in chain
        if (budget := monthly_budget(provider.name, settings)) is not None
    }
    return Chain(chain, left_out, breakers, budgets)


def check_config(settings: Settings) -> Mapping[str, Voice]:
    """Raise `ConfigError` for the first bad setting of the config file's
    provider and voice tables, as a chain with that provider or a run in that
    voice would; no provider is built and no key is required. Every command
    calls it first, so a broken config file is one error and exit 4 whatever
    the command, the chain or the stories, rather than one error per story,
    or none at all. Returns the voice catalog, checked on the way."""
    catalog = load_catalog(settings.voices)
    _check_tables(settings)
    for name in DEFAULT_CHAIN:
        table = _table(name, settings)
        RetryPolicy.from_settings(name, table)
        BreakerPolicy.from_settings(name, table)
        _concurrency(name, table)
        monthly_budget(name, settings)
        if name in _KEY_VARIABLES:  # the file's values too, not only those in use
            _key(name, settings)
            _base_url(name, settings, table)
            if "base_url" in table:
                _checked_url(name, table["base_url"], f"providers.{name}.base_url")
            if not isinstance(table.get("api_key", ""), str):
                raise ConfigError(f"providers.{name}.api_key must be a string")
        for key in ("model", "output_format", "encoding"):
            if key in table:
                _word(table, name, key, "")
        if "encoding" in table:
            from narrate.providers.deepgram import ENCODINGS

            if table["encoding"] not in ENCODINGS:
                known = ", ".join(sorted(ENCODINGS))
                raise ConfigError(f"providers.{name}.encoding must be one of {known}")
    return catalog


def _check_tables(settings: Settings) -> None:
    for table in settings.providers:
        if table not in DEFAULT_CHAIN:
            raise ConfigError(
                f"{settings.config_path}: unknown provider [providers.{table}]; "
                f"known providers: {', '.join(DEFAULT_CHAIN)}"
            )


def monthly_budget(name: str, settings: Settings) -> int | None:
    """The provider's `monthly_chars` from the config file, if it has one."""
    table = _table(name, settings)
    if "monthly_chars" not in table:
        return None
    where = f"{settings.config_path}: providers.{name}.monthly_chars"
    return int(number(table["monthly_chars"], where, 0, 10**12, whole=True))


def _fingerprint(name: str, settings: Settings) -> str:
    """A short digest of what identifies the provider's account and host: a
    breaker opened under another key or URL does not hold this one back. The
    key itself never leaves this process; only 16 hex digits of a hash do."""
    table = settings.provider_settings(name)
    parts = [name, str(table.get("model", "")), str(table.get("output_format", ""))]
    if name in _KEY_VARIABLES:
        parts += [_key(name, settings), _base_url(name, settings, table) or ""]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _check_names(names: Sequence[str]) -> None:
    if not names:
        raise ConfigError("the provider chain is empty")
    seen = set()
    for name in names:
        if name not in DEFAULT_CHAIN:
            known = ", ".join(DEFAULT_CHAIN)
            raise ConfigError(f"unknown provider {name!r}; known providers: {known}")
        if name in seen:
            raise ConfigError(f"provider {name!r} appears twice in the chain")
        seen.add(name)


def missing_key(name: str, settings: Settings) -> str | None:
    """What to set for a provider that needs a key and has none, else None."""
    return _missing_key(name, settings)


def _missing_key(name: str, settings: Settings) -> str | None:
    variable = _KEY_VARIABLES.get(name)
    if variable is None or _key(name, settings):
        return None
    return f"set {variable} or providers.{name}.api_key in {settings.config_path}"


def _key(name: str, settings: Settings) -> str:
    value = settings.env.get(_KEY_VARIABLES[name]) or settings.provider_settings(
        name
    ).get("api_key", "")
    if not isinstance(value, str):
        raise ConfigError(f"providers.{name}.api_key must be a string")
    key = value.strip()
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in key):
        raise ConfigError(
            f"the {name} API key has a space or control character in it; "
            "give the key alone (no 'Token ' or 'Bearer ' before it)"
        )
    return key


def _build(name: str, settings: Settings, timeout: float) -> Provider:
    table = _table(name, settings)
    retry = RetryPolicy.from_settings(name, table)
    concurrency = _concurrency(name, table)
    if name == "espeak":
        from narrate.providers.espeak import EspeakProvider

        return EspeakProvider()
    if name == "edge":
        from narrate.providers.edge import EdgeProvider

        return EdgeProvider(timeout=timeout, retry=retry, **concurrency)
    return _build_http(name, settings, table, timeout, retry, concurrency)


def _build_http(
    name: str,
    settings: Settings,
    table: Mapping[str, Any],
    timeout: float,
    retry: RetryPolicy,
    concurrency: dict[str, int],
) -> Provider:
    base_url = _base_url(name, settings, table)
    common: dict[str, Any] = {
        "api_key": _key(name, settings),
        "timeout": timeout,
        "retry": retry,
        **concurrency,
        **({"base_url": base_url} if base_url else {}),
    }
    if name == "elevenlabs":
        from narrate.providers import elevenlabs
        from narrate.providers.elevenlabs import ElevenLabsProvider

        return ElevenLabsProvider(
            **common,
            model=_word(table, name, "model", elevenlabs.DEFAULT_MODEL),
            output_format=_word(
                table, name, "output_format", elevenlabs.DEFAULT_FORMAT
            ),
        )

    from narrate.providers.deepgram import DeepgramProvider

    # check_config has refused an encoding Deepgram does not offer
    return DeepgramProvider(**common, encoding=str(table.get("encoding", "mp3")))


def _word(table: Mapping[str, Any], name: str, key: str, default: str) -> str:
    """A provider setting that must be a non-empty string, such as a model id;
    a number there is refused rather than sent as its digits."""
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"providers.{name}.{key} must be a non-empty string")
    return value


def _table(name: str, settings: Settings) -> Mapping[str, Any]:
    table = settings.provider_settings(name)
    unknown = sorted(set(table) - _SETTINGS[name] - _COMMON_KEYS)
    if unknown:
        raise ConfigError(
            f"{settings.config_path}: unknown setting providers.{name}.{unknown[0]}"
        )
    return table


def _concurrency(name: str, table: Mapping[str, Any]) -> dict[str, int]:
    if "max_concurrency" not in table:
        return {}
    where = f"providers.{name}.max_concurrency"
    return {
        "max_concurrency": number(table["max_concurrency"], where, 1, 1000, whole=True)
    }


def _base_url(name: str, settings: Settings, table: Mapping[str, Any]) -> str | None:
    """The provider's base URL: the environment's, else the config file's,
    else None for the provider's own host."""
    variable = _URL_VARIABLES[name]
    if settings.env.get(variable):
        return _checked_url(name, settings.env[variable], variable)
    if "base_url" in table:
        return _checked_url(name, table["base_url"], f"providers.{name}.base_url")
    return None


def _checked_url(name: str, value: object, source: str) -> str:
    try:
        parts = urlsplit(str(value))
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        usable = usable and (parts.port is None or parts.port > 0)
    except ValueError:
        usable = False
    if not isinstance(value, str) or not usable:
        raise ConfigError(f"bad {name} base URL in {source}: use http(s)://host[:port]")
    return value
