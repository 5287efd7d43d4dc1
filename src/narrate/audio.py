"""Recognising, measuring and joining audio.

Every answer a provider gives goes through `inspect` before it is written:
bytes that are not whole, decodable audio of a plausible length for their
text are refused here, so nothing else in narrate has to trust a provider.
"""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass

import mutagen

# The shortest audio we accept per word: several times faster than anyone
# reads, so only audio that was cut short or never spoken falls below it.
MIN_SECONDS_PER_WORD = 0.08
_WORD = re.compile(r"\w+")

_SIGNATURES = (
    (b"RIFF", "wav"),
    (b"ID3", "mp3"),
    (b"OggS", "ogg"),
    (b"fLaC", "flac"),
)


class AudioError(ValueError):
    """The bytes are not whole, decodable audio."""


@dataclass(frozen=True)
class AudioInfo:
    """The format of some audio and how long it plays."""

    format: str
    duration_s: float


def sniff(data: bytes) -> str | None:
    """The audio format the bytes' own signature names, or None."""
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            if name == "wav" and data[8:12] != b"WAVE":
                return None
            return name
    if len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return "mp3"
    return None


def inspect(data: bytes) -> AudioInfo:
    """Check that `data` is whole audio and measure it, or raise AudioError."""
    if not data:
        raise AudioError("empty answer, no audio")
    fmt = sniff(data)
    if fmt is None:
        raise AudioError(f"not audio (starts with {data[:8]!r})")
    if fmt == "wav":
        return AudioInfo(fmt, _wav_duration(data))
    return AudioInfo(fmt, _compressed_duration(data, fmt))


def check_speech(data: bytes, text: str) -> AudioInfo:
    """Like `inspect`, and also refuse audio too short to speak `text`."""
    info = inspect(data)
    words = len(_WORD.findall(text))
    shortest = words * MIN_SECONDS_PER_WORD
    if info.duration_s <= 0 or info.duration_s < shortest:
        raise AudioError(
            f"{info.duration_s:.2f} s of audio is too short for {words} words"
        )
    return info


def join(parts: list[bytes]) -> bytes:
    """Play `parts` one after the other as one piece of audio of the same format."""
    if len(parts) == 1:
        return parts[0]
    formats = {sniff(part) for part in parts}
    if formats == {"wav"}:
        return _join_wav(parts)
    if formats == {"mp3"}:
        return _join_mp3(parts)
    raise AudioError(f"cannot join audio of formats {sorted(map(str, formats))}")


def _wav_duration(data: bytes) -> float:
    try:
        with wave.open(io.BytesIO(data)) as reader:
            frames = reader.getnframes()
            rate = reader.getframerate()
            frame_size = reader.getsampwidth() * reader.getnchannels()
            body = reader.readframes(frames)
    except (wave.Error, EOFError) as error:
        raise AudioError(f"broken WAV: {error}") from error

    if rate <= 0 or len(body) != frames * frame_size:
        raise AudioError("truncated WAV: fewer samples than its header announces")
    return float(frames / rate)


def _join_wav(parts: list[bytes]) -> bytes:
    out = io.BytesIO()
    params = None
    with wave.open(out, "wb") as writer:
        for part in parts:
            with wave.open(io.BytesIO(part)) as reader:
                shape = (
                    reader.getnchannels(),
                    reader.getsampwidth(),
                    reader.getframerate(),
                )
                if params is None:
                    params = shape
                    writer.setnchannels(shape[0])
                    writer.setsampwidth(shape[1])
                    writer.setframerate(shape[2])
                elif shape != params:
                    raise AudioError(
                        "cannot join WAV parts of different sample formats"
                    )
                writer.writeframes(reader.readframes(reader.getnframes()))
    return out.getvalue()


def _compressed_duration(data: bytes, fmt: str) -> float:
    try:
        found = mutagen.File(io.BytesIO(data))
    except mutagen.MutagenError as error:
        raise AudioError(f"broken {fmt}: {error}") from error
    if found is None or not found.info or found.info.length <= 0:
        raise AudioError(f"broken {fmt}: no audio frames")
    return float(found.info.length)


def _join_mp3(parts: list[bytes]) -> bytes:
    """MPEG frames concatenate; only the tags around each part must go."""
    return b"".join(_without_id3(part) for part in parts)


def _without_id3(data: bytes) -> bytes:
    """The MPEG frames of an MP3, without a leading ID3v2 or trailing ID3v1 tag."""
    if data.startswith(b"ID3") and len(data) >= 10:
        size = 0
        for byte in data[6:10]:
            size = (size << 7) | (byte & 0x7F)
        footer = 10 if data[5] & 0x10 else 0
        data = data[10 + size + footer :]
    if len(data) >= 128 and data[-128:-125] == b"TAG":
        data = data[:-128]
    return data
