"""How close the batch engine comes to the ideal, and what a long story costs.

    python benchmarks/bench_batch.py            # all figures, about a minute
    python benchmarks/bench_batch.py --quick    # smaller stories

Figures, each against a provider with a fixed latency per request and a real
SQLite cache in a temporary directory:

- throughput: wall time for N one-line paragraphs over the ideal
  N / concurrency x latency (1.00 would be a perfect sliding window);
- cached rerun: the same story again, every paragraph a cache hit;
- peak memory: the largest resident set of a process that narrates the whole
  Grimm collection from ../shared/corpus, over the same process before it
  starts narrating.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

from narrate.engine.batch import StoryNarrator
from narrate.providers.base import Provider, Speech, SpeechRequest
from narrate.store.audio_files import AudioStore
from narrate.store.cache import Cache
from narrate.text import load_story, split_paragraphs
from narrate.voices import Voice

CORPUS = Path(
    os.environ.get("NARRATE_TEST_CORPUS")
    or Path(__file__).resolve().parents[2] / "shared" / "corpus"
)
GRIMM = CORPUS / "grimm_fairy_tales_en_2591-0.txt"
VOICE = Voice("milo", ids={"steady": "v"})
RATE = 8000


def speech(chars: int) -> bytes:
    """Silence as long as reading `chars` characters takes, as 8 kHz WAV."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(b"\1\0" * int(RATE * max(chars, 1) / 15))
    return out.getvalue()


class SteadyProvider(Provider):
    """Answers every request after the same latency, with plausible audio."""

    name = "steady"
    max_chars = 2000
    max_concurrency = 64

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.requests = 0

    async def synthesize(self, request: SpeechRequest) -> Speech:
        """Wait the fixed latency, then answer."""
        self.requests += 1
        await asyncio.sleep(self.latency)
        return Speech(speech(len(request.text)), "wav")


def narrate(
    home: Path, text: str, latency: float, concurrency: int
) -> tuple[float, int]:
    """Seconds to narrate `text` once, and how many requests it took."""
    cache = Cache.open(f"sqlite:///{home / 'narrate.db'}")
    provider = SteadyProvider(latency)
    narrator = StoryNarrator(cache, AudioStore(home / "audio"), concurrency=concurrency)
    paragraphs = split_paragraphs(text)

    started = time.perf_counter()
    asyncio.run(
        narrator.narrate("bench", Path("bench.txt"), paragraphs, VOICE, [provider])
    )
    elapsed = time.perf_counter() - started
    cache.close()
    return elapsed, provider.requests


def throughput(paragraphs: int, latency: float, concurrency: int) -> None:
    """Wall time over the ideal, then a fully cached rerun."""
    text = "\n\n".join(
        f"Paragraph {n} of the benchmark story." for n in range(paragraphs)
    )
    ideal = paragraphs / concurrency * latency
    with tempfile.TemporaryDirectory() as directory:
        first, requests = narrate(Path(directory), text, latency, concurrency)
        rerun, again = narrate(Path(directory), text, latency, concurrency)
    print(
        f"throughput  {paragraphs} paragraphs, concurrency {concurrency}, "
        f"latency {latency * 1000:.0f} ms: {first:.2f} s, ideal {ideal:.2f} s, "
        f"ratio {first / ideal:.2f} ({requests} requests)"
    )
    print(f"cached rerun  {paragraphs} paragraphs: {rerun:.2f} s ({again} requests)")


def peak_memory_child(path: str) -> None:
    """In a child process: narrate a long story and print the memory figures."""
    story = load_story(Path(path))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as directory:
        cache = Cache.open(f"sqlite:///{Path(directory) / 'narrate.db'}")
        narrator = StoryNarrator(
            cache, AudioStore(Path(directory) / "audio"), concurrency=8
        )
        asyncio.run(
            narrator.narrate(
                "long", Path(path), story.paragraphs, VOICE, [SteadyProvider(0.001)]
            )
        )
        cache.close()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    chars = sum(len(p.text) for p in story.paragraphs)
    print(
        f"peak memory  {Path(path).name}, {len(story.paragraphs)} paragraphs, "
        f"{chars:,} characters: {after / 1024:.0f} MiB peak RSS, "
        f"{(after - before) / 1024:.0f} MiB above the process before narrating"
    )


def main() -> None:
    """Run the benchmarks and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller stories")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        peak_memory_child(args.memory_child)
        return

    paragraphs = 200 if args.quick else 1000
    throughput(paragraphs, latency=0.05, concurrency=4)
    throughput(paragraphs, latency=0.05, concurrency=16)
    subprocess.run([sys.executable, __file__, "--memory-child", str(GRIMM)], check=True)


if __name__ == "__main__":
    main()
