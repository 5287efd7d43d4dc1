"""How fast an upgrade pass brings degraded stories back, and what it sends.

    python benchmarks/bench_upgrade.py

Eight stories of 100 paragraphs prefer Deepgram, here a local stand-in that
answers after 50 ms and serves 16 requests at once. Deepgram narrated the
first half of every story, then went down: the stories were finished by
espeak-ng and are degraded. With Deepgram back, one `narrate upgrade` pass
(through narrate's library, SQLite cache, concurrency 4) must send exactly
the 400 missing paragraphs, and its ideal time is 400 / 4 x 50 ms = 5 s.
A second pass right after finds nothing to do.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_workers import LATENCY, StandIn, write_stories  # noqa: E402

from narrate.engine.run import BatchJob, run_batch  # noqa: E402
from narrate.engine.upgrade import UpgradeJob, UpgradeOutcome, run_upgrade  # noqa: E402

STORIES, PARAGRAPHS, CONCURRENCY = 8, 100, 4


def closed_port() -> str:
    """A local URL nothing listens on: Deepgram, down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def main() -> None:
    """Degrade the stories, then time one upgrade pass and a second one."""
    logging.getLogger("narrate").addHandler(logging.NullHandler())
    standin = StandIn()
    standin.start()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        env = {
            **os.environ,
            "NARRATE_HOME": str(root / "home"),
            "DEEPGRAM_API_KEY": "bench-key",
            "NARRATE_DEEPGRAM_URL": standin.url,
        }
        env.pop("NARRATE_CHAIN", None)
        (root / "whole").mkdir()
        whole = write_stories(root / "whole", STORIES, PARAGRAPHS)
        halves = root / "halves"
        halves.mkdir()
        for path in whole:
            paragraphs = path.read_text().split("\n\n")
            (halves / path.name).write_text("\n\n".join(paragraphs[: PARAGRAPHS // 2]))

        job = BatchJob([halves], "milo", chain=["deepgram"], concurrency=CONCURRENCY)
        assert all(r.complete for r in run_batch(job, env=env))
        down = {**env, "NARRATE_DEEPGRAM_URL": closed_port()}
        job = BatchJob(
            [root / "whole"], "milo", chain=["deepgram", "espeak"], concurrency=8
        )
        assert all(r.status == "degraded" for r in run_batch(job, env=down))

        before = standin.requests
        started = time.perf_counter()
        upgrades = run_upgrade(UpgradeJob(concurrency=CONCURRENCY), env=env)
        elapsed = time.perf_counter() - started
        sent = standin.requests - before
        assert all(u.outcome is UpgradeOutcome.UPGRADED for u in upgrades)

        started = time.perf_counter()
        again = run_upgrade(UpgradeJob(concurrency=CONCURRENCY), env=env)
        second = time.perf_counter() - started

    missing = STORIES * (PARAGRAPHS - PARAGRAPHS // 2)
    ideal = missing / CONCURRENCY * LATENCY
    print(
        f"upgrade of {len(upgrades)} degraded stories: {sent} requests for "
        f"{missing} missing paragraphs; {elapsed:.2f} s against an ideal "
        f"{ideal:.2f} s (ratio {elapsed / ideal:.2f}); a second pass: "
        f"{len(again)} stories, {standin.requests - before - sent} requests, "
        f"{second:.2f} s"
    )


if __name__ == "__main__":
    main()
