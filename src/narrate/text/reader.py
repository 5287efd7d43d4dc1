"""Read a story file's bytes and decode them into text with "\\n" line endings.

Without a chosen encoding, a file is read as UTF-8 (a byte-order mark is dropped),
or as UTF-16 or UTF-32 when it starts with their byte-order mark. A file that is
UTF-8 but for a few damaged bytes is read as UTF-8 without them, with a warning
that counts them. Any other file is read as Windows-1252, or Latin-1 when even
that fails, with a warning that says so.
Every failure is an `InputError` or a `ConfigError` whose message starts with
the file name, so the CLI can show it as one line.
"""

from __future__ import annotations

import codecs
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from narrate.errors import ConfigError, InputError

_UTF8_BOM = b"\xef\xbb\xbf"

# UTF-32's little-endian mark starts with UTF-16's, so it is tried first.
_BOM_CODECS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)

# Control characters that no story needs: C0 (but tab and the line breaks), DEL
# and C1 (but NEL). A share above _BINARY_SHARE marks the file as binary.
_STRAY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\x80-\x84\x86-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_BINARY_SHARE = 0.05

# The largest story file read: about ten times the whole Bible, so that a
# mistaken path (a disk image, a log) fails at once instead of filling memory.
MAX_STORY_BYTES = 64 * 1024 * 1024

_LINE_BREAK = re.compile("[\r\v\f\x85\u2028]")

# Bytes that are not valid UTF-8 are dropped rather than the whole file read as
# Windows-1252 when they are few: at most one per _BYTES_PER_INVALID bytes (one
# in any file) and _MAX_INVALID_BYTES in all, and fewer than the valid
# multi-byte sequences. Windows-1252 text forms such a sequence only by chance
# ("ß“" is one), and then has more invalid bytes beside it ("„Straße“").
_BYTES_PER_INVALID = 1000
_MAX_INVALID_BYTES = 100

# Runs of invalid bytes, as the "surrogateescape" handler decodes them.
_INVALID_RUN = re.compile("[\udc80-\udcff]+")
_SURROGATE_ESCAPE = 0xDC00

# Lead bytes of U+0080-U+00BF and U+2000-U+2FFF, where no-break spaces, dashes
# and quotes are. A run that starts with one and stands between two letters or
# digits becomes a space, so the words around it stay apart; any other run is
# dropped, as the rest of a letter cut short (0xC3 of "ü") must be.
_SPACE_LIKE_LEADS = frozenset({0xC2, 0xE2})


@dataclass(frozen=True)
class StoryText:
    """A story file decoded to text, with how it was decoded.

    `text` has no byte-order mark and only "\\n" line endings. `encoding` is the
    codec that decoded it. `warning` is set when the encoding was a guess.
    """

    text: str
    encoding: str
    warning: str | None


def unify_line_endings(text: str) -> str:
    """Turn every line break into "\\n" and stray control characters into spaces.

    CRLF, CR, NEL, U+2028, form feed and vertical tab become one "\\n"; the
    paragraph separator U+2029 becomes a blank line. Tabs are kept.
    """
    text = text.replace("\r\n", "\n").replace("\u2029", "\n\n")
    text = _LINE_BREAK.sub("\n", text)
    return _STRAY_CONTROL.sub(" ", text)


def decode_story(data: bytes, name: str, encoding: str | None = None) -> StoryText:
    """Decode a story's bytes; `name` is the file name used in messages.

    `encoding` forces one codec. Raises `ConfigError` for an unknown codec and
    `InputError` when the bytes cannot be decoded or look binary.
    """
    if encoding is not None:
        story = _decode_forced(data, name, encoding)
    else:
        story = _decode_guessed(data, name)

    _reject_binary(story.text, name)
    text = unify_line_endings(story.text)
    return StoryText(text=text, encoding=story.encoding, warning=story.warning)


def read_story(path: Path, encoding: str | None = None) -> StoryText:
    """Read and decode the story file at `path`; see `decode_story`.

    Raises `InputError` when the file is missing, a directory, a device or
    pipe (which could be read forever), over MAX_STORY_BYTES, or unreadable.
    """
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a story file")

    try:
        _check_size(path)
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a story file") from None
    except PermissionError:
        raise InputError(f"{path}: cannot be read (permission denied)") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"{path}: cannot be read ({reason})") from None

    return decode_story(data, str(path), encoding)


def _check_size(path: Path) -> None:
    """Refuse what is not a regular file, or is too large to be a story."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file (a device, pipe or socket)")
    if info.st_size > MAX_STORY_BYTES:
        raise InputError(
            f"{path}: {info.st_size / 2**20:,.0f} MiB is too large for a story "
            f"(at most {MAX_STORY_BYTES // 2**20} MiB)"
        )


def _decode_forced(data: bytes, name: str, encoding: str) -> StoryText:
    """Decode with the codec the user chose, dropping its byte-order mark."""
    try:
        codecs.lookup(encoding)
    except (LookupError, ValueError):
        raise ConfigError(f"unknown encoding '{encoding}'") from None

    try:
        text = data.decode(encoding)
    except LookupError:
        raise ConfigError(f"'{encoding}' is not a text encoding") from None
    except UnicodeError as error:
        raise InputError(
            f"{name}: cannot be decoded as {encoding} ({_describe(error)})"
        ) from None

    return StoryText(text=text.removeprefix("\ufeff"), encoding=encoding, warning=None)


def _decode_guessed(data: bytes, name: str) -> StoryText:
    """Decode as UTF-8 or a BOM's codec, else fall back with a warning."""
    for bom, codec in _BOM_CODECS:
        if data.startswith(bom):
            return _decode_with_bom(data, name, codec)

    data = data.removeprefix(_UTF8_BOM)
    try:
        return StoryText(text=data.decode("utf-8"), encoding="utf-8", warning=None)
    except UnicodeDecodeError:
        pass

    damaged = _decode_damaged_utf8(data, name)
    if damaged is not None:
        return damaged
    return _decode_windows_1252(data, name)


def _decode_damaged_utf8(data: bytes, name: str) -> StoryText | None:
    """Decode UTF-8 with a few invalid bytes, dropping them; else return None."""
    text = data.decode("utf-8", "surrogateescape")
    invalid = sum(len(run) for run in _INVALID_RUN.findall(text))
    multibyte = len(text) - len(text.encode("ascii", "ignore")) - invalid

    allowed = min(_MAX_INVALID_BYTES, max(1, len(data) // _BYTES_PER_INVALID))
    if invalid > allowed or multibyte <= invalid:
        return None

    warning = (
        f"{name} is UTF-8 with {invalid} invalid byte(s); they were dropped "
        "(use --encoding to choose another)"
    )
    text = _INVALID_RUN.sub(_replace_invalid_run, text)
    return StoryText(text=text, encoding="utf-8", warning=warning)


def _replace_invalid_run(run: re.Match[str]) -> str:
    """Drop a run of invalid bytes, or make it a space between two words."""
    text = run.string
    before = text[run.start() - 1 : run.start()]
    after = text[run.end() : run.end() + 1]

    lead = ord(run[0][0]) - _SURROGATE_ESCAPE
    if lead in _SPACE_LIKE_LEADS and before.isalnum() and after.isalnum():
        return " "
    return ""


def _decode_windows_1252(data: bytes, name: str) -> StoryText:
    """Decode as Windows-1252, or Latin-1 where it fails, with a warning."""
    try:
        text, codec, label = data.decode("cp1252"), "cp1252", "Windows-1252"
    except UnicodeDecodeError:
        # Five bytes have no character in Windows-1252; Latin-1 decodes them all.
        text, codec, label = data.decode("latin-1"), "latin-1", "latin-1"

    warning = (
        f"{name} is not valid UTF-8; read as {label} (use --encoding to choose another)"
    )
    return StoryText(text=text, encoding=codec, warning=warning)


def _decode_with_bom(data: bytes, name: str, codec: str) -> StoryText:
    """Decode a file that starts with a UTF-16 or UTF-32 byte-order mark."""
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as error:
        raise InputError(
            f"{name}: starts with a {codec.upper()} byte-order mark but is not "
            f"valid {codec.upper()} ({_describe(error)})"
        ) from None

    return StoryText(text=text.removeprefix("\ufeff"), encoding=codec, warning=None)


def _reject_binary(text: str, name: str) -> None:
    """Raise `InputError` when decoded text looks like a binary file."""
    if "\x00" in text:
        raise InputError(
            f"{name}: contains NUL bytes, so it looks binary, not text "
            "(for UTF-16 without a byte-order mark, use --encoding utf-16-le "
            "or utf-16-be)"
        )

    controls = len(_STRAY_CONTROL.findall(text))
    if controls > max(1, len(text) * _BINARY_SHARE):
        raise InputError(
            f"{name}: {controls} of {len(text)} characters are control "
            "characters, so it looks binary, not text"
        )

    if _SURROGATE.search(text):
        raise InputError(f"{name}: decodes to invalid Unicode (lone surrogates)")


def _describe(error: UnicodeError) -> str:
    """Say where decoding failed, in words for a one-line message."""
    if isinstance(error, UnicodeDecodeError):
        return f"{error.reason} at byte {error.start}"
    return str(error)
