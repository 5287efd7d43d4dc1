"""A narration run in its own process, for tests that kill it mid-story.

Usage: python slow_story.py DATABASE_URL AUDIO_DIR SLOW_PARAGRAPH
Narrates ten paragraphs with a test provider; the slow paragraph's audio
takes a minute to arrive, so the test can kill the process while it waits.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from fakes import FakeProvider
from narrate.engine.batch import StoryNarrator
from narrate.providers.base import SpeechRequest
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.text import split_paragraphs
from narrate.voices import Voice

STORY = "\n\n".join(f"Paragraph {n} of the slow story." for n in range(1, 11))


class SlowOne(FakeProvider):
    """Answers at once, but for one paragraph, which takes a minute."""

    slow_text: str = ""

    async def synthesize(self, request: SpeechRequest):  # type: ignore[no-untyped-def]
        if request.text == self.slow_text:
            await asyncio.sleep(60)
        return await super().synthesize(request)


def main() -> None:
    url, audio_dir, slow = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    provider = SlowOne("a")
    provider.slow_text = f"Paragraph {slow} of the slow story."
    cache = Cache.open(url)
    narrator = StoryNarrator(cache, AudioStore(audio_dir), concurrency=4)
    voice = Voice("milo", ids={"a": "va"})
    asyncio.run(
        narrator.narrate(
            "slow", Path("slow.txt"), split_paragraphs(STORY), voice, [provider]
        )
    )
    print("requests:", len(provider.requests))


if __name__ == "__main__":
    main()
