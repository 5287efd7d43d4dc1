"""Silent MP3 audio built frame by frame, for stand-ins to send as speech.

The frames are real MPEG audio Layer III frames: a valid four-byte header, side
information of zeros (no Huffman data, no reservoir) and a zeroed main data
area, so every decoder plays them as silence. MPEG-1 covers 32, 44.1 and 48 kHz;
MPEG-2 (the "low sampling frequency" extension) covers 16, 22.05 and 24 kHz.
Frames carry no CRC and no Xing header, so readers see plain constant bitrate.
"""

from __future__ import annotations

from dataclasses import dataclass

READING_CHARS_PER_SECOND = 15
SHORTEST_SPEECH_SECONDS = 0.5

_MPEG1_RATES = {44100: 0, 48000: 1, 32000: 2}
_MPEG2_RATES = {22050: 0, 24000: 1, 16000: 2}
_MPEG1_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


@dataclass(frozen=True)
class FrameLayout:
    """The shape of one Layer III frame for a sample rate, bitrate and channels."""

    sample_rate: int
    bitrate_kbps: int
    channels: int

    @property
    def mpeg1(self) -> bool:
        """Whether this is an MPEG-1 frame (else MPEG-2 low sampling frequency)."""
        return self.sample_rate in _MPEG1_RATES

    @property
    def samples(self) -> int:
        """Samples per channel in one frame."""
        return 1152 if self.mpeg1 else 576

    @property
    def side_info_bytes(self) -> int:
        """Size of the side information block that follows the header."""
        if self.mpeg1:
            return 17 if self.channels == 1 else 32
        return 9 if self.channels == 1 else 17

    def header(self, padded: bool) -> bytes:
        """The four header bytes of a frame, with or without its padding slot."""
        rates = _MPEG1_RATES if self.mpeg1 else _MPEG2_RATES
        kbps = _MPEG1_KBPS if self.mpeg1 else _MPEG2_KBPS
        version = 0b11 if self.mpeg1 else 0b10
        mode = 0b11 if self.channels == 1 else 0b00

        bits = 0x7FF << 21 | version << 19 | 0b01 << 17 | 1 << 16
        bits |= kbps.index(self.bitrate_kbps) << 12 | rates[self.sample_rate] << 10
        bits |= int(padded) << 9 | mode << 6
        return bits.to_bytes(4, "big")


def frame_layout(sample_rate: int, bitrate_kbps: int, channels: int) -> FrameLayout:
    """Check a sample rate, bitrate and channel count, and describe their frames."""
    if channels not in (1, 2):
        raise ValueError(f"channels must be 1 or 2, not {channels}")
    if sample_rate in _MPEG1_RATES:
        allowed = _MPEG1_KBPS[1:]
    elif sample_rate in _MPEG2_RATES:
        allowed = _MPEG2_KBPS[1:]
    else:
        raise ValueError(f"no MPEG-1 or MPEG-2 Layer III sample rate {sample_rate}")
    if bitrate_kbps not in allowed:
        raise ValueError(f"{bitrate_kbps} kbps is not allowed at {sample_rate} Hz")
    return FrameLayout(sample_rate, bitrate_kbps, channels)


def silent_mp3(
    seconds: float,
    *,
    sample_rate: int = 44100,
    bitrate_kbps: int = 128,
    channels: int = 1,
) -> bytes:
    """A constant-bitrate MP3 stream of silence lasting about `seconds`.

    The length is rounded to whole frames (26 ms at 44.1 kHz, 24 ms at 24 kHz),
    with at least one frame. Padding slots are spread the way encoders spread
    them, so the byte rate matches the bitrate exactly over the stream.
    """
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    layout = frame_layout(sample_rate, bitrate_kbps, channels)
    frames = max(1, round(seconds * sample_rate / layout.samples))

    # A frame holds samples/8 bytes per bit/s of bitrate; the fraction of a byte
    # left over accumulates until it pays for one padding byte.
    numerator = layout.samples // 8 * bitrate_kbps * 1000
    base, remainder = divmod(numerator, sample_rate)
    owed = 0
    out = bytearray()
    for _ in range(frames):
        owed += remainder
        padded = owed >= sample_rate
        if padded:
            owed -= sample_rate
        out += layout.header(padded)
        out += bytes(base + int(padded) - 4)
    return bytes(out)


def mp3_seconds(size: int, bitrate_kbps: int) -> float:
    """The duration of `size` bytes of constant-bitrate MP3 at `bitrate_kbps`."""
    return size * 8 / (bitrate_kbps * 1000)


def speech_seconds(text: str) -> float:
    """A plausible time to read `text` aloud: 15 characters a second, 0.5 s least."""
    return max(SHORTEST_SPEECH_SECONDS, len(text) / READING_CHARS_PER_SECOND)
