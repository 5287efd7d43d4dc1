"""The script that decides each answer a stand-in gives.

A script has a default reply (healthy audio unless a test says otherwise) and
rules consulted in the order they were added; the first rule that returns a
reply wins. A rule is a callable `(request, n) -> Reply | None`, where `n` is
the request's number among the speech requests the stand-in received (1 for
the first), or, for rules added with `per_text=True`, its number among the
requests that carried the same text.

Replies given as a list (`sequence`, `for_text`) are used in order, and the
last one keeps being used once the list runs out: `sequence(error(429),
audio())` fails the first request and answers every later one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from standins.records import RecordedRequest
from standins.replies import Reply

Rule = Callable[[RecordedRequest, int], "Reply | None"]


def _nth(replies: tuple[Reply, ...], n: int) -> Reply:
    """The n-th reply (1-based), the last one standing in beyond the end."""
    return replies[min(n, len(replies)) - 1]


class Script:
    """A default reply plus rules that override it for chosen requests."""

    def __init__(self, default: Reply) -> None:
        """Start with only a default reply."""
        self._lock = threading.Lock()
        self._default = default
        self._rules: list[tuple[Rule, bool]] = []

    @property
    def default(self) -> Reply:
        """The reply for requests no rule claims."""
        with self._lock:
            return self._default

    @default.setter
    def default(self, reply: Reply) -> None:
        with self._lock:
            self._default = reply

    def always(self, reply: Reply) -> Script:
        """Answer every request no rule claims with `reply`."""
        self.default = reply
        return self

    def add(self, rule: Rule, *, per_text: bool = False) -> Script:
        """Consult `rule` after the rules already added; `per_text` numbers by text."""
        with self._lock:
            self._rules.append((rule, per_text))
        return self

    def sequence(self, *replies: Reply) -> Script:
        """Answer the n-th speech request with the n-th reply, the last repeating."""
        if not replies:
            raise ValueError("a sequence needs at least one reply")
        return self.add(lambda request, n: _nth(replies, n))

    def for_text(self, fragment: str, *replies: Reply) -> Script:
        """Answer requests whose text contains `fragment` with `replies` in order.

        The count restarts for each distinct text, so two paragraphs that both
        contain the fragment each get the whole list.
        """
        if not replies:
            raise ValueError("for_text needs at least one reply")

        def rule(request: RecordedRequest, n: int) -> Reply | None:
            if n < 1 or fragment not in request.text:
                return None
            return _nth(replies, n)

        return self.add(rule, per_text=True)

    def clear(self) -> None:
        """Forget every rule; the default reply stays as it is."""
        with self._lock:
            self._rules.clear()

    def decide(self, request: RecordedRequest) -> Reply:
        """The reply for `request`: the first rule's answer, else the default."""
        with self._lock:
            rules = list(self._rules)
            default = self._default

        for rule, per_text in rules:
            n = request.text_number if per_text else request.number
            reply = rule(request, n)
            if reply is not None:
                return reply
        return default
