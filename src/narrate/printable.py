"""Text from outside (file names, story ids) made safe to show on a terminal.

A file name may hold an escape sequence that clears the screen or recolours
the terminal, or a bidirectional override that makes a name read backwards.
`printable` shows such characters as Python escapes (`\\x1b`, `\\u202e`), so
what is printed is what the name holds, and nothing more.
"""

from __future__ import annotations

import re

# C0 and C1 control characters, DEL, and the bidirectional marks and overrides.
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with every control or bidi character written as its escape."""
    return _UNSHOWABLE.sub(lambda found: ascii(found.group())[1:-1], text)
