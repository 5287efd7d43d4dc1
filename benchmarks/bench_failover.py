"""How long a story takes to fail over when its preferred provider hangs.

    python benchmarks/bench_failover.py

The preferred provider accepts every request and never answers; the next
provider answers after a fixed latency. For stories of 50, 500 and 5,000
paragraphs, the figure is the wall time until the story is complete on the
next provider, next to its budget: one request deadline (the first window of
requests hangs until then, and the breaker opens) plus the time the next
provider needs on its own (paragraphs / concurrency x latency). Fail-fast
means the excess over the budget stays flat as the story grows.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

from bench_batch import SteadyProvider

from narrate.engine.batch import StoryNarrator
from narrate.providers.base import Provider, Speech, SpeechRequest
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.text import split_paragraphs
from narrate.voices import Voice

DEADLINE = 2.0
LATENCY = 0.02
CONCURRENCY = 8
VOICE = Voice("milo", ids={"hung": "v", "steady": "v"})


class HungProvider(Provider):
    """Takes every request and never answers."""

    name = "hung"
    max_chars = 2000
    max_concurrency = 64

    def __init__(self) -> None:
        self.requests = 0

    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Wait forever (until the deadline cancels the wait)."""
        self.requests += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def narrate(paragraphs: int, chain: list[Provider]) -> float:
    """Seconds to narrate a story of `paragraphs` through `chain`, fresh cache."""
    text = "\n\n".join(
        f"Paragraph {n} of the failover story." for n in range(paragraphs)
    )
    with tempfile.TemporaryDirectory() as directory:
        cache = Cache.open(f"sqlite:///{Path(directory) / 'narrate.db'}")
        narrator = StoryNarrator(
            cache,
            AudioStore(Path(directory) / "audio"),
            concurrency=CONCURRENCY,
            timeout=DEADLINE,
        )
        started = time.perf_counter()
        result = asyncio.run(
            narrator.narrate(
                "failover", Path("f.txt"), split_paragraphs(text), VOICE, chain
            )
        )
        elapsed = time.perf_counter() - started
        cache.close()
    assert result.complete and result.used_provider == "steady"
    return elapsed


def main() -> None:
    """Print one line per story length."""
    logging.getLogger("narrate").addHandler(logging.NullHandler())
    for paragraphs in (50, 500, 5000):
        alone = narrate(paragraphs, [SteadyProvider(LATENCY)])
        hung = HungProvider()
        elapsed = narrate(paragraphs, [hung, SteadyProvider(LATENCY)])
        print(
            f"{paragraphs:>5} paragraphs: {elapsed:.2f} s from the hang to a complete "
            f"story = deadline {DEADLINE:.0f} s + the next provider alone "
            f"{alone:.2f} s + {elapsed - DEADLINE - alone:+.2f} s; "
            f"{hung.requests} requests sent to the hung provider"
        )


if __name__ == "__main__":
    main()
