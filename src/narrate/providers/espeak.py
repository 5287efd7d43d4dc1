"""The offline provider: espeak-ng, from the library espeakng-loader bundles.

It needs no key, no network and no system package, so it is the last link
of every chain. The C library keeps global state and is not thread-safe:
every synthesis in the process runs under one lock, in one worker thread,
so the event loop stays free while it speaks.
"""

from __future__ import annotations

import asyncio
import ctypes
import io
import logging
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from narrate.errors import ProviderOutError, VoiceError
from narrate.providers.base import Provider, Speech, SpeechRequest

log = logging.getLogger(__name__)

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_EE_OK = 0

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _Library:
    """The loaded espeak-ng library, initialised once per process."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib: Any = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path().encode()
        self.sample_rate = int(
            self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        )
        if self.sample_rate <= 0:
            raise OSError("espeak-ng did not initialise")

        self._samples = bytearray()
        # Kept on the instance: ctypes must not collect the callback while C holds it.
        self._callback = _SYNTH_CALLBACK(self._collect)
        self.lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if count > 0:
            self._samples.extend(ctypes.string_at(wav, count * 2))
        return 0

    def speak(self, text: str, voice: str) -> bytes | None:
        """16-bit mono PCM for `text`, or None when espeak-ng has no such voice."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            return None

        self._samples = bytearray()
        encoded = text.encode("utf-8") + b"\0"
        self.lib.espeak_Synth(
            encoded, len(encoded), 0, 0, 0, _ESPEAK_CHARS_UTF8, None, None
        )
        self.lib.espeak_Synchronize()
        return bytes(self._samples)


_library: _Library | None = None
_library_lock = threading.Lock()


def _speak(text: str, voice: str) -> tuple[bytes | None, int]:
    global _library
    with _library_lock:
        if _library is None:
            _library = _Library()
        return _library.speak(text, voice), _library.sample_rate


def _as_wav(samples: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples)
    return out.getvalue()


class EspeakProvider(Provider):
    """Real speech from espeak-ng, offline, as 22,050 Hz mono WAV."""

    name = "espeak"
    max_chars = 4000
    max_concurrency = 1
    billed = False

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")

    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Speak one chunk in espeak-ng's worker thread."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        try:
            samples, rate = await loop.run_in_executor(
                self._thread, _speak, request.text, request.voice
            )
        except OSError as error:
            raise ProviderOutError(
                self.name, f"espeak-ng cannot be loaded: {error}", code="unavailable"
            ) from error

        elapsed = (time.monotonic() - started) * 1000
        outcome = "ok" if samples is not None else "voice_not_found"
        log.info(
            "%s %s %d chars %.0f ms", self.name, outcome, len(request.text), elapsed
        )
        if samples is None:
            raise VoiceError(
                self.name,
                f"espeak-ng has no voice {request.voice!r}",
                code="voice_not_found",
            )
        return Speech(_as_wav(samples, rate), "wav")

    async def aclose(self) -> None:
        """Stop the worker thread once the chunk it is speaking, if any, is done."""
        self._thread.shutdown(wait=False, cancel_futures=True)
