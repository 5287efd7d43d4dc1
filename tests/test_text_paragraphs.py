"""Splitting story text into paragraphs and normalising what providers hear."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from conftest import CORPUS
from narrate.text import load_story, split_sentences
from narrate.text.paragraphs import MAX_PARAGRAPH_CHARS, normalise, split_paragraphs
from narrate.text.reader import decode_story, read_story

# About 50,000 characters of sentences of different lengths, hard-wrapped.
LONG_PARAGRAPH = "\n".join(
    f"Sentence {n} tells how the wolf {'ran ' * (n % 7)}through the dark woods."
    for n in range(1, 741)
)


def texts(story: str) -> list[str]:
    """Return the normalised text of each paragraph of `story`."""
    return [paragraph.text for paragraph in split_paragraphs(story)]


def hashes_of(data: bytes) -> list[str]:
    """Decode story bytes and return each paragraph's hash."""
    story = decode_story(data, "story.txt")
    return [paragraph.text_hash for paragraph in split_paragraphs(story.text)]


# Paragraph breaks and joined lines


def test_paragraphs_are_separated_by_blank_and_whitespace_only_lines() -> None:
    story = "One.\n\nTwo.\n \t\nThree.\n\u00a0\nFour."

    assert texts(story) == ["One.", "Two.", "Three.", "Four."]


def test_several_blank_lines_make_one_break_and_indexes_count_from_one() -> None:
    paragraphs = split_paragraphs("\n\nOne.\n\n\n\n\nTwo.\n\n")

    assert [(p.index, p.text) for p in paragraphs] == [(1, "One."), (2, "Two.")]


def test_hard_wrapped_lines_are_joined_with_one_space() -> None:
    story = "It was a dark\n   and stormy\nnight.  \n"

    assert texts(story) == ["It was a dark and stormy night."]


@pytest.mark.parametrize("dash", ["-", "\u2013", "\u2014", "---"])
def test_a_line_ending_in_an_attached_dash_joins_the_next_line_directly(
    dash: str,
) -> None:
    assert texts(f"a well{dash}\nknown tale") == [f"a well{dash}known tale"]


def test_a_spaced_dash_at_a_line_end_joins_the_next_line_with_a_space() -> None:
    assert texts("le loup. ---\nOh! oui") == ["le loup. --- Oh! oui"]


def test_any_line_endings_split_paragraphs_the_same_way() -> None:
    story = "First line\r\nwrapped.\r\rSecond.\u2029Third."

    assert texts(story) == ["First line wrapped.", "Second.", "Third."]


# Normalisation


def test_runs_of_any_whitespace_incl_no_break_spaces_become_one_space() -> None:
    assert normalise("  5\u00a0\u20ac\tand\u202f\u2003 more  ") == "5 \u20ac and more"


def test_normalise_composes_characters_to_nfc() -> None:
    assert normalise("Cafe\u0301") == "Caf\u00e9"


def test_invisible_characters_are_dropped() -> None:
    assert normalise("Zero\u200bwidth soft\u00adhyphen \ufeffmark") == (
        "Zerowidth softhyphen mark"
    )


def test_a_backslash_before_punctuation_is_dropped() -> None:
    text = r"\"Go,\" she said, \'now\' \*and\* \# \\ done\!"

    assert normalise(text) == "\"Go,\" she said, 'now' *and* # \\ done!"


def test_a_backslash_before_a_letter_is_kept() -> None:
    assert normalise(r"C:\Windows\system") == r"C:\Windows\system"


@pytest.mark.parametrize("marker", ["#", "##", "###", "####", "#####", "######"])
def test_a_markdown_heading_mark_is_dropped(marker: str) -> None:
    assert normalise(f"{marker} The Wolf") == "The Wolf"


@pytest.mark.parametrize("text", ["####### Seven", "#hashtag", "Room # 5"])
def test_hashes_that_are_not_heading_marks_are_kept(text: str) -> None:
    assert normalise(text) == text


def test_a_lone_backslash_line_leaves_nothing_speakable() -> None:
    paragraphs = split_paragraphs("Before.\n\n\\\n\nAfter.")

    assert [p.speakable for p in paragraphs] == [True, False, True]


def test_a_backslash_line_above_text_is_dropped_from_that_paragraph() -> None:
    assert texts("\\\nIl était une fois") == ["Il était une fois"]


def test_the_hash_is_sha256_of_the_normalised_utf8_text() -> None:
    (paragraph,) = split_paragraphs("Café\n  au lait.")

    expected = hashlib.sha256("Café au lait.".encode()).hexdigest()
    assert paragraph.text == "Café au lait."
    assert paragraph.text_hash == expected


# Paragraphs over the limit


def test_a_50000_character_paragraph_becomes_three_within_the_limit() -> None:
    whole = normalise(LONG_PARAGRAPH)

    parts = texts(LONG_PARAGRAPH)

    assert 49_000 <= len(whole) <= 51_000
    assert len(parts) == 3
    assert all(len(part) <= MAX_PARAGRAPH_CHARS for part in parts)
    assert " ".join(parts) == whole


def test_a_paragraph_over_the_limit_is_cut_only_at_sentence_ends() -> None:
    parts = texts(LONG_PARAGRAPH)

    assert all(part.endswith("through the dark woods.") for part in parts)
    assert all(part.startswith("Sentence ") for part in parts)
    assert [s for part in parts for s in split_sentences(part)] == split_sentences(
        normalise(LONG_PARAGRAPH)
    )


def test_parts_of_a_cut_paragraph_have_consecutive_indexes_and_own_hashes() -> None:
    story = f"Before.\n\n{LONG_PARAGRAPH}\n\nAfter."

    paragraphs = split_paragraphs(story)

    assert [p.index for p in paragraphs] == [1, 2, 3, 4, 5]
    assert paragraphs[0].text == "Before."
    assert paragraphs[-1].text == "After."
    for paragraph in paragraphs:
        digest = hashlib.sha256(paragraph.text.encode()).hexdigest()
        assert paragraph.text_hash == digest
        assert paragraph.speakable


def test_a_paragraph_of_exactly_the_limit_is_not_cut() -> None:
    text = ("a" * 10) + (" word" * ((MAX_PARAGRAPH_CHARS - 10) // 5))

    assert len(text) == MAX_PARAGRAPH_CHARS
    assert texts(text) == [text]


def test_two_million_characters_of_words_split_into_a_hundred_paragraphs() -> None:
    story = "word " * 400_000

    paragraphs = split_paragraphs(story)

    assert len(paragraphs) == 100
    assert [p.index for p in paragraphs] == list(range(1, 101))
    assert all(len(p.text) <= MAX_PARAGRAPH_CHARS for p in paragraphs)
    assert " ".join(p.text for p in paragraphs) == story.strip()


def test_a_word_longer_than_the_limit_is_cut_into_paragraphs_within_it() -> None:
    paragraphs = split_paragraphs("x" * 50_000)

    assert [len(p.text) for p in paragraphs] == [20_000, 20_000, 10_000]


def test_grimm_book_without_blank_lines_is_cut_into_parts_within_the_limit(
    tmp_path: Path,
) -> None:
    text = read_story(CORPUS / "grimm_fairy_tales_en_2591-0.txt").text
    lines = [line for line in text.split("\n") if line.strip()]
    path = tmp_path / "grimm.txt"
    path.write_text("\n".join(lines), encoding="utf-8")

    paragraphs = load_story(path).paragraphs

    assert len(paragraphs) >= 27
    assert all(len(p.text) <= MAX_PARAGRAPH_CHARS for p in paragraphs)
    assert " ".join(p.text for p in paragraphs) == normalise("\n".join(lines))


# Speakable paragraphs (C01, C02)


def test_a_paragraph_of_dots_is_unspeakable_and_keeps_its_index() -> None:
    paragraphs = split_paragraphs("The door opened.\n\n......\n\nShe stepped inside.")

    assert [(p.index, p.text, p.speakable) for p in paragraphs] == [
        (1, "The door opened.", True),
        (2, "......", False),
        (3, "She stepped inside.", True),
    ]


def test_scene_breaks_and_symbol_lines_are_unspeakable() -> None:
    paragraphs = split_paragraphs("Notes\n\n•\n\n* * *\n\n— — —\n\nThe end.")

    assert [(p.text, p.speakable) for p in paragraphs] == [
        ("Notes", True),
        ("•", False),
        ("* * *", False),
        ("— — —", False),
        ("The end.", True),
    ]


@pytest.mark.parametrize("text", ["1812", "Ⅻ", "ß", "日本"])
def test_a_digit_or_letter_of_any_script_makes_a_paragraph_speakable(
    text: str,
) -> None:
    assert split_paragraphs(text)[0].speakable


# Files decoded and split (C08, C09, C10)


def test_windows_1252_no_break_space_becomes_a_plain_space() -> None:
    data = bytes.fromhex(
        "43 61 66 e9 20 70 72 69 63 65 73 20 72 6f 73 65 20 74 6f 20 35 a0 80 20"
        " 74 6f 64 61 79 2e 0d 0a"
    )

    story = decode_story(data, "poe.txt")

    assert texts(story.text) == ["Café prices rose to 5 € today."]


def test_a_byte_order_mark_changes_neither_text_nor_hashes() -> None:
    plain = b"Chapter One\n\nIt was late.\n"

    story = decode_story(b"\xef\xbb\xbf" + plain, "story.txt")

    assert texts(story.text)[0] == "Chapter One"
    assert hashes_of(b"\xef\xbb\xbf" + plain) == hashes_of(plain)


@pytest.mark.parametrize(
    ("story", "lf_version"),
    [
        (
            "First paragraph.\r\n\r\nSecond paragraph.\r\n",
            "First paragraph.\n\nSecond paragraph.\n",
        ),
        ("First.\r\rSecond.\r", "First.\n\nSecond.\n"),
        ("First.\u2029Second.", "First.\n\nSecond."),
        ("First.\r\n \t\r\nSecond.", "First.\n\nSecond."),
    ],
    ids=["crlf", "cr", "paragraph-separator", "crlf-whitespace-line"],
)
def test_other_line_endings_give_two_paragraphs_with_the_lf_hashes(
    story: str, lf_version: str
) -> None:
    decoded = decode_story(story.encode(), "story.txt").text

    assert len(texts(decoded)) == 2
    assert all("\r" not in text for text in texts(decoded))
    assert hashes_of(story.encode()) == hashes_of(lf_version.encode())


# The real-story corpus


def test_grimm_book_has_about_a_thousand_paragraphs_and_no_bom() -> None:
    story = load_story(CORPUS / "grimm_fairy_tales_en_2591-0.txt")

    assert 950 <= len(story.paragraphs) <= 1100
    first = story.paragraphs[0].text
    assert first.startswith("The Project Gutenberg EBook of Grimms")
    assert not first.startswith("\ufeff")


def test_grimm_book_wrapped_lines_are_joined_into_long_paragraphs() -> None:
    story = load_story(CORPUS / "grimm_fairy_tales_en_2591-0.txt")

    longest = max(len(paragraph.text) for paragraph in story.paragraphs)
    assert 5000 <= longest <= 5500


@pytest.mark.parametrize(
    "name",
    ["perrault_red_riding_hood_en_1901.md", "perrault_chaperon_rouge_fr_1902.md"],
)
def test_perrault_markdown_escapes_leave_no_backslashes(name: str) -> None:
    story = load_story(CORPUS / name)

    assert not any("\\" in paragraph.text for paragraph in story.paragraphs)


def test_perrault_english_escaped_quotes_become_plain_quotes() -> None:
    story = load_story(CORPUS / "perrault_red_riding_hood_en_1901.md")

    assert any(p.text.startswith('"Go, my dear, and see') for p in story.paragraphs)
    assert any("grandmother's," in p.text for p in story.paragraphs)
