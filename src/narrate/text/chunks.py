"""Split a normalised paragraph into sentences, and sentences into chunks.

A provider takes a limited number of characters per request. `split_chunks`
packs whole sentences into chunks within that limit and only splits a sentence
that is longer than the limit on its own: at clause marks first, then at
spaces. Both functions run in linear time on a paragraph.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate

# Closing quotes and brackets that stay with the mark they follow. A French
# closing guillemet may stand after a space.
_CLOSERS = "\"'\u201d\u2019\u201c\u2018\u00bb\u00ab)\\]"
_CLOSING = rf"(?:[{_CLOSERS}]|\s\u00bb(?=\s|$))*"
_QUOTES = "\"'\u201d\u2019\u201c\u2018\u00bb\u00ab"

# A run of marks is only tried from its first mark: trying it from every mark in
# it would take quadratic time on a long run such as "a......x".
_SENTENCE_END = re.compile(
    rf"(?<![.!?\u2026])(?P<mark>[.!?\u2026]+)(?P<close>{_CLOSING})(?=\s|$)"
)
_CLAUSE_END = re.compile(
    rf"[,;:]{_CLOSING}(?=\s)|(?<=\s)(?:\u2014|\u2013|-{{2,3}})(?=\s)"
)
# A word and the words with no letter or digit after it, kept together when a
# clause is split at spaces. A letter or digit is "\w" but "_", as in isalnum().
_WORD_GROUP = re.compile(r"\S+(?:\s(?:[^\w\s]|_)+(?!\S))*")
_LEADING_PUNCTUATION = re.compile(r"^[\W_]+")
_DOTTED_INITIALS = re.compile(r"(?:[^\W\d_]\.)+")
_ACRONYM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")

Splitter = Callable[[str, int], list[str]]


def _word_set(words: str) -> frozenset[str]:
    """Make a set of the words in a whitespace-separated list."""
    return frozenset(words.split())


# Abbreviations after which a sentence never ends, lowercase and without the
# final period.
_TITLES = _word_set(
    """
    mr mrs ms mx dr st ste mt prof rev hon capt col gen lt sgt cpl maj adm cmdr
    gov sen rep pres supt insp det messrs mssrs mme mlle mmes mgr hr hrn frl fr
    vs e.g i.e z.b d.h u.a o.ä s.o s.u vgl ca cf approx resp bzw sog
    """
)
# Abbreviations that are only abbreviations before a number: "No. 5", "Jan. 3".
_BEFORE_NUMBER = _word_set(
    """
    no nr nos fig figs vol p pp ch art
    jan feb mar apr jun jul aug sep sept oct nov dec
    """
)
# Abbreviations that may also close a sentence: they end one before a
# capitalised word that is not an initial, like a dotted acronym does.
_MAY_END = _word_set("etc usw jr sr esq inc ltd co corp bros al")

_SPEECH_VERBS = _word_set(
    """
    said says asked asks shouted cried replied answered whispered called
    exclaimed murmured added continued yelled screamed muttered sighed
    laughed demanded insisted repeated returned began pleaded snapped
    sagte fragte rief antwortete flüsterte schrie meinte erwiderte
    dit demanda répondit s'écria cria reprit ajouta murmura
    """
)


def split_sentences(text: str) -> list[str]:
    """Split a normalised paragraph into sentences, each with its closing quotes.

    A sentence ends at `.`, `!`, `?` or `…` and any closing quotes or brackets
    after it, before whitespace, unless the words around it say otherwise: an
    abbreviation (`Mr.`, `e.g.`), an initial (`J. R. R. Tolkien`), a dotted
    acronym before a lowercase word (`the U.N. office`), a lowercase next
    word, or a speech tag after quoted dialogue (`"Why?" Maya asked.`).
    """
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if match.end() < len(text) and _ends_sentence(text, match):
            sentences.append(text[start : match.end()].strip())
            start = match.end()

    sentences.append(text[start:].strip())
    return [sentence for sentence in sentences if sentence]


def split_chunks(text: str, limit: int) -> list[str]:
    """Split a normalised paragraph into chunks of at most `limit` characters.

    Whole sentences are packed greedily, joined by single spaces. A sentence
    longer than `limit` is split after clause marks (`,` `;` `:` and a spaced
    dash), then at spaces. Only a single word longer than `limit` is cut
    inside, as a last resort, so for text without such words
    `" ".join(split_chunks(text, limit)) == text`. Empty text gives no chunks.
    Raises `ValueError` when `limit` is less than 1.
    """
    if limit < 1:
        raise ValueError(f"chunk limit must be at least 1, not {limit}")

    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    return _pack(split_sentences(text), limit, _split_clauses)


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    """Decide whether a candidate sentence end really ends a sentence."""
    following = text[match.end() : match.end() + 120].split()[:3]
    if not following:
        return True

    first = _LEADING_PUNCTUATION.sub("", following[0])
    if first[:1].islower():
        return False
    if _is_speech_tag(match["mark"], match["close"], following):
        return False
    if match["mark"] != ".":
        return True

    return not _is_abbreviation(_word_before(text, match.start()), first)


def _is_speech_tag(mark: str, close: str, following: list[str]) -> bool:
    """Tell whether quoted `?` or `!` is followed by a speech verb."""
    if "?" not in mark and "!" not in mark:
        return False
    if not any(quote in close for quote in _QUOTES):
        return False

    words = (_bare_word(word) for word in following)
    return any(word in _SPEECH_VERBS for word in words)


def _bare_word(word: str) -> str:
    """Lowercase a word and strip the punctuation around it."""
    return word.replace("\u2019", "'").strip(".,;:!?\"'()").lower()


def _word_before(text: str, end: int) -> str:
    """Return the word that ends at `end`, without opening punctuation."""
    start = text.rfind(" ", 0, end) + 1
    return _LEADING_PUNCTUATION.sub("", text[start:end])


def _is_abbreviation(word: str, next_word: str) -> bool:
    """Tell whether the period after `word` belongs to it rather than ending."""
    key = word.lower()
    if key in _TITLES:
        return True
    if key in _BEFORE_NUMBER:
        return next_word[:1].isdigit()
    if len(word) == 1 and word.isupper() and word != "I":
        return True

    if key in _MAY_END or _ACRONYM.fullmatch(word):
        capitalised = next_word[:1].isupper()
        return not capitalised or bool(_DOTTED_INITIALS.fullmatch(next_word))
    return False


def _pack(pieces: list[str], limit: int, split_further: Splitter) -> list[str]:
    """Greedily join pieces with single spaces into chunks within `limit`.

    A piece over `limit` is split by `split_further`; its parts may share a
    chunk with the pieces around it.
    """
    parts: list[str] = []
    for piece in pieces:
        if len(piece) <= limit:
            parts.append(piece)
        else:
            parts.extend(split_further(piece, limit))

    # ends[i] is where parts[i] and the space after it end in the joined text,
    # so each chunk's last part is found by bisection, not part by part. Every
    # chunk takes at least one part, so the loop always moves on.
    ends = list(accumulate(len(part) + 1 for part in parts))
    chunks: list[str] = []
    start, offset = 0, 0
    while start < len(parts):
        stop = max(start + 1, bisect_right(ends, offset + limit + 1, lo=start))
        chunks.append(" ".join(parts[start:stop]))
        start, offset = stop, ends[stop - 1]
    return chunks


def _split_clauses(sentence: str, limit: int) -> list[str]:
    """Split an over-long sentence after its clause marks, then pack."""
    clauses: list[str] = []
    start = 0
    for match in _CLAUSE_END.finditer(sentence):
        clauses.append(sentence[start : match.end()].strip())
        start = match.end()

    clauses.append(sentence[start:].strip())
    return _pack([clause for clause in clauses if clause], limit, _split_words)


def _split_words(clause: str, limit: int) -> list[str]:
    """Split an over-long clause at spaces, then pack.

    A word with no letter or digit (a closing quote, a dash) stays with the
    word before it, so no chunk starts with one; only a group of them longer
    than `limit` on its own is split between them.
    """
    groups = _WORD_GROUP.findall(" ".join(clause.split()))
    return _pack(groups, limit, _split_group)


def _split_group(group: str, limit: int) -> list[str]:
    """Split a word and the marks after it, together over `limit`, at spaces."""
    return _pack(group.split(), limit, _cut_word)


def _cut_word(word: str, limit: int) -> list[str]:
    """Cut a word longer than `limit` into pieces: the last resort."""
    return [word[start : start + limit] for start in range(0, len(word), limit)]
