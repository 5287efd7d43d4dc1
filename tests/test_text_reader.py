"""Reading story files: decoding, line endings, bad files and empty stories."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from conftest import CORPUS
from narrate.errors import ConfigError, InputError
from narrate.text import load_story, read_story
from narrate.text.chunks import split_chunks
from narrate.text.paragraphs import split_paragraphs
from narrate.text.reader import MAX_STORY_BYTES, decode_story, unify_line_endings

STORY_FILES = sorted(
    path for path in CORPUS.glob("*") if path.suffix in {".txt", ".md"}
)

C08_BYTES = bytes.fromhex(
    "43 61 66 e9 20 70 72 69 63 65 73 20 72 6f 73 65 20 74 6f 20 35 a0 80 20 74 6f"
    " 64 61 79 2e 0d 0a"
)


def write(tmp_path: Path, data: bytes, name: str = "story.txt") -> Path:
    """Write `data` to a file under `tmp_path` and return its path."""
    path = tmp_path / name
    path.write_bytes(data)
    return path


# Decoding


def test_utf8_text_is_read_as_utf8_without_a_warning() -> None:
    story = decode_story("Ça va, Zoë?\n".encode(), "s.txt")

    assert story.text == "Ça va, Zoë?\n"
    assert story.encoding == "utf-8"
    assert story.warning is None


def test_utf8_byte_order_mark_is_dropped() -> None:
    story = decode_story(b"\xef\xbb\xbfChapter One\n\nIt was late.\n", "s.txt")

    assert story.text == "Chapter One\n\nIt was late.\n"
    assert story.encoding == "utf-8"
    assert story.warning is None


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_a_byte_order_mark_is_decoded_and_the_mark_dropped(
    codec: str,
) -> None:
    data = "\ufeffÉtude Nº 1\r\n\r\nFin.".encode(codec)

    story = decode_story(data, "s.txt")

    assert story.text == "Étude Nº 1\n\nFin."
    assert story.encoding == "utf-16"
    assert story.warning is None


def test_utf32_with_a_byte_order_mark_is_decoded() -> None:
    story = decode_story("\ufeffHello.".encode("utf-32-le"), "s.txt")

    assert story.text == "Hello."
    assert story.encoding == "utf-32"


def test_windows_1252_file_is_read_with_a_warning_naming_the_encoding() -> None:
    story = decode_story(C08_BYTES, "poe.txt")

    assert story.text == "Café prices rose to 5\xa0€ today.\n"
    assert story.encoding == "cp1252"
    assert story.warning is not None
    assert story.warning.startswith("poe.txt is not valid UTF-8")
    assert "Windows-1252" in story.warning
    assert "--encoding" in story.warning


def test_a_byte_cut_out_of_an_umlaut_is_dropped_and_the_rest_stays_utf8() -> None:
    text = (CORPUS / "alice_wunderland_de_19778.txt").read_text(encoding="utf-8-sig")
    data = text.encode()
    cut = data.index("ü".encode()) + 1

    story = decode_story(data[:cut] + data[cut + 1 :], "alice.txt")

    assert story.encoding == "utf-8"
    assert story.text == unify_line_endings(text.replace("ü", "", 1))
    assert story.warning == (
        "alice.txt is UTF-8 with 1 invalid byte(s); they were dropped "
        "(use --encoding to choose another)"
    )


def test_a_short_german_text_with_a_cut_umlaut_keeps_its_other_umlauts() -> None:
    data = "Die Brüder erzählten Märchen über Füchse und Bären.".encode()

    story = decode_story(data.replace(b"\xc3\xbc", b"\xc3", 1), "s.txt")

    assert story.text == "Die Brder erzählten Märchen über Füchse und Bären."
    assert story.warning is not None
    assert "1 invalid byte(s)" in story.warning


def test_a_stray_byte_beside_a_curly_quote_is_dropped_not_refused_as_binary() -> None:
    data = "“Run,” she said.".encode().replace("”".encode(), "”".encode() + b"\x81")

    story = decode_story(data, "s.txt")

    assert story.text == "“Run,” she said."
    assert story.encoding == "utf-8"
    assert story.warning is not None
    assert story.warning.startswith("s.txt is UTF-8 with 1 invalid byte(s)")


@pytest.mark.parametrize(
    ("damaged", "text"),
    [
        (b"night\xe2\x80day", "night day"),
        (b"5\xc2euros", "5 euros"),
        (b"Hello\xe2\x80.", "Hello."),
        (b"Gr\xc3\xc3\x9fe", "Grße"),
    ],
    ids=["cut-dash", "cut-no-break-space", "cut-quote-before-mark", "cut-letter"],
)
def test_a_cut_dash_or_space_between_words_becomes_a_space_else_it_vanishes(
    damaged: bytes, text: str
) -> None:
    # Long enough to allow two invalid bytes, with plenty of valid sequences.
    umlauts = "ä ö ü ß " * 300

    story = decode_story(damaged + b" " + umlauts.encode(), "s.txt")

    assert story.encoding == "utf-8"
    assert story.text == f"{text} {umlauts}"


@pytest.mark.parametrize(
    ("size", "invalid", "encoding"),
    [
        (2_000, 2, "utf-8"),
        (2_000, 3, "cp1252"),
        (200_000, 100, "utf-8"),
        (200_000, 101, "cp1252"),
    ],
)
def test_too_many_invalid_bytes_fall_back_to_windows_1252(
    size: int, invalid: int, encoding: str
) -> None:
    data = bytearray("ü".encode() * (size // 2))
    for position in range(0, size, size // invalid)[:invalid]:
        data[position + 1] = ord("u")

    story = decode_story(bytes(data), "s.txt")

    assert story.encoding == encoding


@pytest.mark.parametrize(
    "text",
    ["„Das ist meine Straße“, sagte er.", "„Straße“ und „Soße“."],
)
def test_windows_1252_that_holds_a_chance_utf8_sequence_stays_windows_1252(
    text: str,
) -> None:
    story = decode_story(text.encode("cp1252"), "s.txt")

    assert story.text == text
    assert story.encoding == "cp1252"


def test_one_byte_cut_anywhere_in_a_german_story_keeps_it_utf8() -> None:
    data = (CORPUS / "grimm_rothkaeppchen_de_1857.md").read_bytes()
    rng = random.Random(1857)
    for _ in range(200):
        cut = rng.randrange(len(data))

        story = decode_story(data[:cut] + data[cut + 1 :], "s.txt")

        assert story.encoding == "utf-8"
        assert story.warning is None or "UTF-8 with" in story.warning


def test_bytes_windows_1252_lacks_fall_back_to_latin_1_with_a_warning() -> None:
    story = decode_story(b"caf\xe9 \x81ok", "odd.txt")

    assert story.encoding == "latin-1"
    assert story.text.startswith("café")
    assert story.warning is not None
    assert "latin-1" in story.warning
    assert "Windows-1252" not in story.warning


def test_forced_encoding_is_used_even_when_utf8_would_decode() -> None:
    story = decode_story("é".encode(), "s.txt", encoding="latin-1")

    assert story.text == "Ã©"
    assert story.encoding == "latin-1"
    assert story.warning is None


@pytest.mark.parametrize(
    ("data", "codec"),
    [
        (b"\xef\xbb\xbfHi", "utf-8"),
        ("\ufeffHi".encode("utf-16-le"), "utf-16-le"),
        ("\ufeffHi".encode("utf-16"), "utf-16"),
    ],
)
def test_forced_encoding_still_drops_its_byte_order_mark(
    data: bytes, codec: str
) -> None:
    assert decode_story(data, "s.txt", encoding=codec).text == "Hi"


def test_unknown_encoding_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError) as caught:
        decode_story(b"Hi", "s.txt", encoding="xyz")

    assert str(caught.value) == "unknown encoding 'xyz'"


def test_codec_that_is_not_a_text_encoding_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="rot13"):
        decode_story(b"Hi", "s.txt", encoding="rot13")


def test_bytes_the_forced_encoding_cannot_decode_name_file_and_codec() -> None:
    with pytest.raises(InputError) as caught:
        decode_story(b"caf\xe9", "cafe.txt", encoding="utf-8")

    message = str(caught.value)
    assert message.startswith("cafe.txt: ")
    assert "utf-8" in message
    assert "\n" not in message


def test_broken_utf16_after_its_byte_order_mark_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"^s\.txt: .*UTF-16"):
        decode_story(b"\xff\xfeH\x00i", "s.txt")


# Line endings and control characters


@pytest.mark.parametrize(
    "newline", ["\r\n", "\r", "\u2028", "\x85", "\f", "\v"], ids=repr
)
def test_every_kind_of_line_break_becomes_a_newline(newline: str) -> None:
    data = f"one{newline}two{newline}".encode()

    assert decode_story(data, "s.txt").text == "one\ntwo\n"


def test_paragraph_separator_becomes_a_blank_line() -> None:
    assert decode_story("one\u2029two".encode(), "s.txt").text == "one\n\ntwo"


def test_stray_control_characters_become_spaces_and_tabs_stay() -> None:
    text = "A long line of words\x1b with\ttabs, and then an old end-of-file mark\x1a"

    story = decode_story(text.encode(), "s.txt")

    assert (
        story.text
        == "A long line of words  with\ttabs, and then an old end-of-file mark "
    )


# Binary files


def test_nul_bytes_mark_a_file_as_binary() -> None:
    with pytest.raises(InputError, match=r"^pic\.png: .*NUL"):
        decode_story(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "pic.png")


def test_utf16_without_a_byte_order_mark_is_refused_with_a_hint() -> None:
    with pytest.raises(InputError, match="--encoding utf-16-le"):
        decode_story("Hello there.".encode("utf-16-le"), "s.txt")


def test_a_high_share_of_control_characters_marks_a_file_as_binary() -> None:
    data = bytes(range(1, 9)) * 20 + b"some words"

    with pytest.raises(InputError, match=r"^blob: .*control characters"):
        decode_story(data, "blob")


def test_random_bytes_only_ever_raise_input_or_config_errors() -> None:
    rng = random.Random(20_260_312)
    prefixes = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00"]
    decoded = 0
    for _ in range(3000):
        size = rng.randrange(0, 80)
        data = rng.choice(prefixes) + bytes(rng.randrange(256) for _ in range(size))
        try:
            story = decode_story(data, "noise.bin")
        except (InputError, ConfigError):
            continue

        decoded += 1
        for paragraph in split_paragraphs(story.text):
            split_chunks(paragraph.text, 7)
    assert decoded > 100


# Files on disk


def test_read_story_reads_and_decodes_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"First.\r\n\r\nSecond.\r\n")

    assert read_story(path).text == "First.\n\nSecond.\n"


def test_missing_file_is_an_input_error_starting_with_its_name(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nope.txt"

    with pytest.raises(InputError) as caught:
        read_story(path)

    assert str(caught.value) == f"{path}: no such file"


def test_directory_is_an_input_error_starting_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read_story(tmp_path)

    assert str(caught.value).startswith(f"{tmp_path}: ")
    assert "directory" in str(caught.value)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_that_never_ends_is_refused_before_reading(device: str) -> None:
    with pytest.raises(InputError) as caught:
        read_story(Path(device))

    assert (
        str(caught.value) == f"{device}: not a regular file (a device, pipe or socket)"
    )


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    pipe = tmp_path / "story.txt"
    os.mkfifo(pipe)

    with pytest.raises(InputError, match="not a regular file"):
        read_story(pipe)


def test_a_file_too_large_for_a_story_is_refused_before_reading(
    tmp_path: Path,
) -> None:
    path = tmp_path / "disk.img"
    with path.open("wb") as sparse:
        sparse.truncate(MAX_STORY_BYTES + 1)

    with pytest.raises(InputError) as caught:
        read_story(path)

    assert str(caught.value) == (
        f"{path}: 64 MiB is too large for a story (at most 64 MiB)"
    )


def test_unreadable_file_is_an_input_error_saying_permission_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, b"Secret.")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    # Root can read any file, so the refusal is made at the OS-call boundary.
    monkeypatch.setattr(Path, "read_bytes", refuse)

    with pytest.raises(InputError) as caught:
        read_story(path)
    assert str(caught.value) == f"{path}: cannot be read (permission denied)"


def test_path_through_a_file_is_an_input_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"Text.") / "child.txt"

    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: cannot be read"):
        read_story(path)


def test_read_story_warning_names_the_file_as_given(tmp_path: Path) -> None:
    path = write(tmp_path, C08_BYTES, "poe.txt")

    warning = read_story(path).warning

    assert warning is not None
    assert warning.startswith(f"{path} is not valid UTF-8")


# Loading whole stories (C11)


def test_story_with_blank_lines_around_one_paragraph_loads_it(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, b"\n\n\nOnly paragraph.\n\n\n\n")

    story = load_story(path)

    assert [p.text for p in story.paragraphs] == ["Only paragraph."]
    assert story.paragraphs[0].index == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"\xef\xbb\xbf", b"   \n\t\n", b"\r\n \r\n", b"* * *\n\n......\n"],
    ids=["zero-bytes", "bom-only", "whitespace", "crlf-blanks", "symbols-only"],
)
def test_story_with_nothing_to_narrate_is_one_clear_input_error(
    tmp_path: Path, data: bytes
) -> None:
    path = write(tmp_path, data)

    with pytest.raises(InputError) as caught:
        load_story(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: nothing to narrate (")
    assert "\n" not in message


def test_load_story_passes_on_the_encoding_and_its_warning(tmp_path: Path) -> None:
    story = load_story(write(tmp_path, C08_BYTES))

    assert story.encoding == "cp1252"
    assert story.warning is not None
    assert "Windows-1252" in story.warning


def test_load_story_with_an_unknown_encoding_is_a_config_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="unknown encoding 'xyz'"):
        load_story(write(tmp_path, b"Hi."), encoding="xyz")


# The real-story corpus


def test_corpus_is_present_beside_the_project() -> None:
    assert len(STORY_FILES) >= 7, f"expected the story corpus in {CORPUS}"


@pytest.mark.parametrize("path", STORY_FILES, ids=lambda path: path.name)
def test_every_corpus_story_loads_with_speakable_paragraphs(path: Path) -> None:
    story = load_story(path)

    assert any(paragraph.speakable for paragraph in story.paragraphs)
    assert all("\r" not in paragraph.text for paragraph in story.paragraphs)


def test_poe_file_in_iso_8859_1_is_read_with_the_windows_1252_warning() -> None:
    path = CORPUS / "poe_masque_red_death_en_1064-8.txt"

    story = load_story(path)

    assert story.encoding == "cp1252"
    assert story.warning is not None
    assert "Windows-1252" in story.warning
    assert any("ê" in paragraph.text for paragraph in story.paragraphs)
