"""Settings from flags, the environment and the config file, in that order.

The data directory holds the SQLite cache and the audio store. It is the
platform's user data directory unless `NARRATE_HOME` names another. The
config file is TOML: `NARRATE_CONFIG` names it, else `config.toml` in
`NARRATE_HOME` when that is set, else `config.toml` in the platform's user
config directory. A missing config file is the same as an empty one, unless
`NARRATE_CONFIG` names it: a file asked for by name must be there.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from narrate.errors import ConfigError

APP_NAME = "narrate"
DEFAULT_CONCURRENCY = 4
DEFAULT_TIMEOUT = 60.0
DEFAULT_CLAIM_LEASE = 30.0

# The ranges the config file and the command line's options share.
CONCURRENCY_RANGE = (1, 1000)
TIMEOUT_RANGE = (0.1, 3600.0)
# The range of each numeric setting: low, high, whether it must be whole.
_RANGES = {
    "concurrency": (*CONCURRENCY_RANGE, True),
    "timeout": (*TIMEOUT_RANGE, False),
    "claim_lease": (1, 3600, False),
}

_TOP_LEVEL_KEYS = {
    "database_url",
    "audio_dir",
    "chain",
    "concurrency",
    "timeout",
    "claim_lease",
    "providers",
    "voices",
}


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know that does not come from the story."""

    home: Path
    config_path: Path
    database_url: str
    audio_dir: Path
    chain: tuple[str, ...] | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    claim_lease: float = DEFAULT_CLAIM_LEASE
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    voices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def provider_settings(self, name: str) -> Mapping[str, Any]:
        """The `[providers.NAME]` table of the config file, or an empty one."""
        return self.providers.get(name, {})


def load_settings(
    env: Mapping[str, str] | None = None, *, database_url: str | None = None
) -> Settings:
    """Read the environment and the config file; `database_url` is the `--db` flag."""
    env = dict(os.environ if env is None else env)
    home = _home(env)
    config_path = _config_path(env, home)
    file = _read_config(config_path, named=bool(env.get("NARRATE_CONFIG")))

    url = (
        database_url
        or env.get("NARRATE_DATABASE_URL")
        or _text(file, "database_url", config_path)
    )
    audio_dir = env.get("NARRATE_AUDIO_DIR") or _text(file, "audio_dir", config_path)
    return Settings(
        home=home,
        config_path=config_path,
        database_url=str(url or f"sqlite:///{home / 'narrate.db'}"),
        audio_dir=Path(str(audio_dir)).expanduser() if audio_dir else home / "audio",
        chain=_chain(_env_chain(env) or file.get("chain"), config_path),
        concurrency=_positive(file, "concurrency", DEFAULT_CONCURRENCY, config_path),
        timeout=_positive(file, "timeout", DEFAULT_TIMEOUT, config_path),
        claim_lease=_positive(file, "claim_lease", DEFAULT_CLAIM_LEASE, config_path),
        providers=_tables(file, "providers", config_path),
        voices=_tables(file, "voices", config_path),
        env=env,
    )


def _home(env: Mapping[str, str]) -> Path:
    if env.get("NARRATE_HOME"):
        return Path(env["NARRATE_HOME"]).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME))


def _config_path(env: Mapping[str, str], home: Path) -> Path:
    if env.get("NARRATE_CONFIG"):
        return Path(env["NARRATE_CONFIG"]).expanduser()
    if env.get("NARRATE_HOME"):
        return home / "config.toml"
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def _read_config(path: Path, *, named: bool) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if named:
            raise ConfigError(
                f"{path}: no such config file (NARRATE_CONFIG names it)"
            ) from None
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file ({error})") from error

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from error

    unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}")
    return data


def _text(data: Mapping[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{path}: {key} must be a non-empty string")
    return value


def _env_chain(env: Mapping[str, str]) -> list[str] | None:
    """NARRATE_CHAIN's names; None when it is unset or blank. A value of commas
    alone is refused, as `--chain ,` is, rather than read as no value."""
    value = env.get("NARRATE_CHAIN", "")
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if value.strip() and not names:
        raise ConfigError("NARRATE_CHAIN names no provider: the chain is empty")
    return names or None


def _chain(value: object, path: Path) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: chain must be a list of provider names")
    if not value:
        raise ConfigError(f"{path}: the provider chain is empty")
    return tuple(name.strip().lower() for name in value)


def number(
    value: object, where: str, low: float, high: float, *, whole: bool = False
) -> Any:
    """`value` if it is a finite number (whole if asked) from `low` to `high`."""
    kinds = int if whole else int | float
    if isinstance(value, kinds) and not isinstance(value, bool):
        assert isinstance(value, int | float)
        if math.isfinite(value) and low <= value <= high:
            return value
    kind = "a whole number" if whole else "a number"
    raise ConfigError(f"{where} must be {kind} from {low:g} to {high:g}")


def _positive(data: Mapping[str, Any], key: str, default: float, path: Path) -> Any:
    low, high, whole = _RANGES[key]
    return number(data.get(key, default), f"{path}: {key}", low, high, whole=whole)


def _tables(data: Mapping[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(v, dict) for v in value.values()
    ):
        raise ConfigError(f"{path}: [{key}] must hold one table per name")
    return value
