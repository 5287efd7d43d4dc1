"""The voice catalog: narrator voices and the voice each provider uses for them.

The catalog ships as `voices.toml` inside the package. A user's config file
can add voices, or override single mappings, under `[voices.NAME]`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

from narrate.errors import ConfigError

PROVIDER_NAMES = ("elevenlabs", "deepgram", "edge", "espeak")
_DESCRIPTIVE = ("description", "language")


@dataclass(frozen=True)
class Voice:
    """A narrator voice and its counterpart at every provider."""

    name: str
    description: str = ""
    language: str = ""
    ids: Mapping[str, str] = field(default_factory=dict)

    def for_provider(self, provider: str) -> str | None:
        """The provider's own voice for this narrator, or None if it has none."""
        return self.ids.get(provider)


def load_catalog(
    user_voices: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Voice]:
    """The shipped voices, with the user's additions and overrides applied."""
    shipped = tomllib.loads(
        resources.files("narrate").joinpath("voices.toml").read_text("utf-8")
    )
    merged: dict[str, dict[str, str]] = {name: dict(v) for name, v in shipped.items()}
    for name, overrides in (user_voices or {}).items():
        merged.setdefault(name, {}).update(_checked(name, overrides))
    return {name: _voice(name, table) for name, table in sorted(merged.items())}


def find_voice(catalog: Mapping[str, Voice], name: str) -> Voice:
    """The voice called `name`, or a ConfigError that lists the known ones."""
    try:
        return catalog[name]
    except KeyError:
        known = ", ".join(sorted(catalog))
        raise ConfigError(f"unknown voice {name!r}; known voices: {known}") from None


def _checked(name: str, table: Mapping[str, object]) -> dict[str, str]:
    allowed = set(PROVIDER_NAMES) | set(_DESCRIPTIVE)
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(
                f"voice {name!r}: unknown key {key!r}; use one of {sorted(allowed)}"
            )
        if not isinstance(value, str) or not value:
            raise ConfigError(f"voice {name!r}: {key} must be a non-empty string")
    return {key: str(value) for key, value in table.items()}


def _voice(name: str, table: Mapping[str, str]) -> Voice:
    ids = {key: value for key, value in table.items() if key in PROVIDER_NAMES}
    return Voice(
        name=name,
        description=table.get("description", ""),
        language=table.get("language", ""),
        ids=ids,
    )
