"""Splitting paragraphs into sentences, and sentences into chunks within a limit."""

from __future__ import annotations

import random
import time

import pytest

from conftest import CORPUS
from narrate.text import load_story, split_chunks, split_sentences

CLOSERS = "\"'\u201d\u2019\u00bb)]"

C06 = (
    "Mr. Hale and Ms. Ortiz moved to St. Paul last spring. Mr. Hale joined the "
    "U.N. office, and Ms. Ortiz joined the F.B.I. as an analyst. On her first "
    "test she scored 0.9 out of 1."
)
C07 = (
    '"Is it raining?" Maya asked. "Run!" shouted Leo, and they ran. '
    'I said "Wait!" before the door shut.'
)
C07_CURLY = (
    "\u201cIs it raining?\u201d Maya asked. \u201cRun!\u201d shouted Leo, and "
    "they ran. I said \u201cWait!\u201d before the door shut."
)
C04 = " ".join(
    f"Sentence {n} is here to pad this paragraph out a bit more." for n in range(1, 91)
)
CLAUSE = "the river ran past the mill and under the bridge, "
C05 = (CLAUSE * 48).removesuffix(", ") + "."


def starts_with_closing_quote(text: str) -> bool:
    """Tell whether `text` starts with a quote or bracket that no word follows."""
    return text[:1] in CLOSERS and not text[1:2].isalnum()


# Sentences


def test_abbreviations_initials_and_decimals_do_not_end_sentences() -> None:
    assert split_sentences(C06) == [
        "Mr. Hale and Ms. Ortiz moved to St. Paul last spring.",
        "Mr. Hale joined the U.N. office, and Ms. Ortiz joined the F.B.I. as an "
        "analyst.",
        "On her first test she scored 0.9 out of 1.",
    ]


@pytest.mark.parametrize("text", [C07, C07_CURLY], ids=["straight", "curly"])
def test_dialogue_keeps_its_quotes_and_speech_tags(text: str) -> None:
    sentences = split_sentences(text)

    assert len(sentences) == 3
    assert sentences[0].endswith("Maya asked.")
    assert sentences[1].endswith("shouted Leo, and they ran.")
    assert sentences[2].startswith("I said")
    assert " ".join(sentences) == text


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Watson and Prof. Moriarty met Mrs. Hudson at Mt. Hood.",
        "Capt. Nemo, Gen. Lee, Lt. Dan and Sgt. Pepper vs. Rev. Green.",
        "Fruit, e.g. Apples, or i.e. Pears, are sweet.",
        "Die Katze, z.B. Dinah, schlief bei Hr. Müller und Fr. Meier.",
        "Chez Mme. Dupont, Mlle. Roux et M. Martin dînaient.",
        "See No. 5 and Fig. 2 from Jan. 3 onwards.",
        "J. R. R. Tolkien met O. Henry.",
        "She bought apples, pears, etc. and went home.",
        "The F.B.I. J. Edgar Hoover built was large.",
        "The cost was 3.50 dollars, or 0.9 of the rest.",
        'MR. HALE and "DR. WHO" met.',
    ],
)
def test_periods_that_do_not_end_a_sentence_are_kept_inside_it(text: str) -> None:
    assert split_sentences(text) == [text]


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("He joined the F.B.I. The pay was good.", 2),
        ("She bought pears, etc. Then she left.", 2),
        ("Stop! Go? Now.", 3),
        ("Wait... Then go.", 2),
        ("Wait\u2026 Then go.", 2),
        ("I wonder... maybe not.", 1),
        ('"Is it raining?" The sky was grey.', 2),
        ("She said no. Then she left.", 2),
        ("It happened in 1999. Nobody forgot.", 2),
        ("He and I. Then the end.", 2),
        ("(It rained.) Then it stopped.", 2),
    ],
)
def test_sentence_ends_are_found_after_marks_before_a_new_sentence(
    text: str, count: int
) -> None:
    assert len(split_sentences(text)) == count


@pytest.mark.parametrize(
    "text",
    [
        "\u00bbWas ist das?\u00ab fragte Alice.",
        "\u201eWer ist da?\u201c rief der Wolf.",
        "\u00ab Quoi ? \u00bb demanda-t-il.",
        "\u00ab Vraiment ! \u00bb S'\u00e9cria le loup.",
        '"Who is there?" Gaffer Wolf asked softly.',
        "\u2018Alas!\u2019 said he to his wife.",
    ],
)
def test_speech_tags_after_quoted_questions_stay_with_them(text: str) -> None:
    assert split_sentences(text) == [text]


def test_a_sentence_never_starts_with_a_closing_quote() -> None:
    text = (
        "\u00ab Oui ! \u00bb Il partit. \u00bbKomm!\u00ab Sie kam. "
        "'Go.' He went. (Done.) We left."
    )

    sentences = split_sentences(text)

    assert len(sentences) == 8
    assert not any(starts_with_closing_quote(sentence) for sentence in sentences)


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("") == []


# Chunks


def test_abbreviation_paragraph_chunks_at_its_three_sentence_ends() -> None:
    assert split_chunks(C06, 100) == split_sentences(C06)
    assert len(split_chunks(C06, 100)) == 3


@pytest.mark.parametrize("text", [C07, C07_CURLY], ids=["straight", "curly"])
def test_dialogue_chunks_are_its_three_sentences(text: str) -> None:
    chunks = split_chunks(text, 50)

    assert chunks == split_sentences(text)
    assert len(chunks) == 3
    assert not any(starts_with_closing_quote(chunk) for chunk in chunks)


@pytest.mark.parametrize("limit", [1000, 2000])
def test_long_paragraph_is_packed_into_whole_sentences_within_the_limit(
    limit: int,
) -> None:
    chunks = split_chunks(C04, limit)

    assert len(C04) > 5000
    assert all(len(chunk) <= limit for chunk in chunks)
    assert all(chunk.endswith("out a bit more.") for chunk in chunks)
    assert all(chunk.startswith("Sentence ") for chunk in chunks)
    assert " ".join(chunks) == C04
    assert len(chunks) == -(-len(C04) // limit)


def test_sentence_over_the_limit_splits_at_commas_never_inside_words() -> None:
    chunks = split_chunks(C05, 1000)

    assert len(C05) == 2399
    assert len(chunks) == 3
    assert all(len(chunk) <= 1000 for chunk in chunks)
    assert all(chunk.endswith(",") for chunk in chunks[:-1])
    assert chunks[-1].endswith("bridge.")
    assert all(chunk.startswith("the river") for chunk in chunks)
    assert " ".join(chunks) == C05


@pytest.mark.parametrize("mark", [";", ":"])
def test_semicolons_and_colons_are_clause_marks_too(mark: str) -> None:
    text = f"one two three{mark} four five six{mark} seven eight nine."

    assert split_chunks(text, 30) == [
        f"one two three{mark} four five six{mark}",
        "seven eight nine.",
    ]


@pytest.mark.parametrize("dash", ["\u2014", "\u2013", "---"])
def test_a_spaced_dash_is_a_clause_mark_that_stays_on_the_left(dash: str) -> None:
    text = f"the wolf waited by the door {dash} and then he ran off"

    assert split_chunks(text, 35) == [
        f"the wolf waited by the door {dash}",
        "and then he ran off",
    ]


def test_a_clause_over_the_limit_splits_at_spaces() -> None:
    text = "a b c dd ee ff ggg hhh iii jjjj kkkk llll mmmmm"

    chunks = split_chunks(text, 10)

    assert all(len(chunk) <= 10 for chunk in chunks)
    assert " ".join(chunks) == text
    assert chunks[0] == "a b c dd"


def test_split_at_spaces_never_leaves_a_closing_quote_at_a_chunk_start() -> None:
    chunks = split_chunks("aaaa bbbb \u00bb cccc", 9)

    assert chunks == ["aaaa", "bbbb \u00bb", "cccc"]


def test_only_a_word_longer_than_the_limit_is_cut_inside() -> None:
    assert split_chunks("go Llanfairpwllgwyngyll now", 10) == [
        "go",
        "Llanfairpw",
        "llgwyngyll",
        "now",
    ]


def test_text_within_the_limit_is_one_chunk() -> None:
    assert split_chunks("Short. Very short.", 18) == ["Short. Very short."]


def test_empty_text_has_no_chunks() -> None:
    assert split_chunks("", 10) == []


@pytest.mark.parametrize("limit", [0, -5])
def test_a_limit_below_one_is_a_value_error(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        split_chunks("Hello.", limit)


def test_random_paragraphs_join_back_and_stay_within_the_limit() -> None:
    rng = random.Random(7)
    words = ["Mr.", "the", "U.N.", "ran,", "far;", "—", "Yes!", '"Oh?"', "end."]
    words += ["0.9", "said", "it", "«", "»", "etc.", "J.", "Anna", "walked:"]
    for _ in range(400):
        text = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 60)))
        limit = rng.randrange(8, 120)

        chunks = split_chunks(text, limit)

        assert all(0 < len(chunk) <= limit for chunk in chunks)
        assert " ".join(chunks) == text


def test_every_corpus_paragraph_joins_back_from_its_chunks() -> None:
    for path in sorted(CORPUS.glob("*.txt")) + sorted(CORPUS.glob("*.md")):
        for paragraph in load_story(path).paragraphs:
            chunks = split_chunks(paragraph.text, 250)
            longest_word = max(map(len, paragraph.text.split()), default=0)

            assert all(len(chunk) <= 250 for chunk in chunks)
            if longest_word <= 250:
                assert " ".join(chunks) == paragraph.text


def test_splitting_the_longest_grimm_paragraph_takes_well_under_5_ms() -> None:
    story = load_story(CORPUS / "grimm_fairy_tales_en_2591-0.txt")
    longest = max((p.text for p in story.paragraphs), key=len)

    timings = []
    for _ in range(5):
        start = time.perf_counter()
        split_chunks(longest, 1000)
        timings.append(time.perf_counter() - start)

    assert len(longest) > 5000
    assert min(timings) < 0.005


def test_a_long_run_of_marks_inside_a_word_is_cut_like_any_long_word() -> None:
    word = "a" + "." * 200_000 + "x"

    chunks = split_chunks(f"Go {word} now.", 20_000)

    assert split_sentences(f"Go {word} now.") == [f"Go {word} now."]
    assert len(chunks) == 12
    assert all(len(chunk) <= 20_000 for chunk in chunks)
    assert chunks[0] == "Go"
    assert "".join(chunks[1:]) == f"{word} now."
    assert chunks[-1] == ".x now."


def test_a_run_of_bare_marks_over_the_limit_splits_between_them() -> None:
    text = "The end " + "* " * 30 + "really."

    chunks = split_chunks(text.strip(), 20)

    assert all(0 < len(chunk) <= 20 for chunk in chunks)
    assert " ".join(chunks) == text.strip()
    assert chunks[0] == "The"
    assert chunks[1].startswith("end *")


def test_two_million_characters_of_words_pack_into_full_chunks() -> None:
    text = ("word " * 400_000).strip()

    chunks = split_chunks(text, 20_000)

    assert len(chunks) == 100
    assert {len(chunk) for chunk in chunks} == {19_999}
    assert " ".join(chunks) == text
