"""Text-to-speech providers: ElevenLabs, Deepgram, Edge and espeak-ng.

Each module implements `narrate.providers.base.Provider`; the chain they form
is built by `narrate.engine.chain`.
"""

from narrate.providers.base import Provider, Speech, SpeechRequest

__all__ = ["DEFAULT_CHAIN", "Provider", "Speech", "SpeechRequest"]

DEFAULT_CHAIN = ("elevenlabs", "deepgram", "edge", "espeak")
