"""Text-to-speech providers and the chain they form.

The default chain is elevenlabs, deepgram, edge, espeak, leaving out the
providers that cannot run here. espeak needs nothing and is always last.
"""

from __future__ import annotations

from collections.abc import Sequence

from narrate.config import Settings
from narrate.errors import ConfigError
from narrate.providers.base import Provider, Speech, SpeechRequest

__all__ = ["DEFAULT_CHAIN", "Provider", "Speech", "SpeechRequest", "build_chain"]

DEFAULT_CHAIN = ("elevenlabs", "deepgram", "edge", "espeak")
_BUILT = ("espeak",)


def build_chain(names: Sequence[str] | None, settings: Settings) -> list[Provider]:
    """The providers of the chain named by `names`, or of the default chain."""
    if names is None:
        names = [name for name in settings.chain or DEFAULT_CHAIN if name in _BUILT]
    if not names:
        raise ConfigError("the provider chain is empty")

    seen = set()
    for name in names:
        if name not in DEFAULT_CHAIN:
            known = ", ".join(DEFAULT_CHAIN)
            raise ConfigError(f"unknown provider {name!r}; known providers: {known}")
        if name not in _BUILT:
            raise ConfigError(f"provider {name!r} is not available in this version")
        if name in seen:
            raise ConfigError(f"provider {name!r} appears twice in the chain")
        seen.add(name)
    return [_build(name) for name in names]


def _build(name: str) -> Provider:
    from narrate.providers.espeak import EspeakProvider

    return EspeakProvider()
