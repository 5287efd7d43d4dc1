"""Throughput of 1, 2, 4 and 8 workers sharing one PostgreSQL cache.

    python benchmarks/bench_workers.py [--postgres URL]

A local stand-in of Deepgram's /v1/speak answers every request after 50 ms
and serves at most 16 requests at once (more wait for a slot, as a plan's
concurrency limit makes them). Each worker is a process of its own that
narrates its share of 8 stories of 100 paragraphs through narrate's library,
at --concurrency 4, against one PostgreSQL schema. The ideal throughput is
min(workers x 4, 16) requests in flight / 50 ms. A second figure puts all the
workers on one 200-paragraph story: the claims must keep the stand-in's
request count at 200 however many workers share the work.

The URL defaults to NARRATE_TEST_POSTGRES_URL, or the local test database.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from aiohttp import web

LATENCY = 0.05
PROVIDER_LIMIT = 16
WORKER_CONCURRENCY = 4
STORIES, PARAGRAPHS = 8, 100
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/narrate_test"


class StandIn:
    """Deepgram's speak endpoint with a fixed latency and a concurrency limit."""

    def __init__(self) -> None:
        self.requests = 0
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Serve on a free port of 127.0.0.1 in a thread of its own."""
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait()

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._slots = asyncio.Semaphore(PROVIDER_LIMIT)
        app = web.Application()
        app.router.add_post("/v1/speak", self._speak)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def _speak(self, request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        async with self._slots:
            self.requests += 1
            await asyncio.sleep(LATENCY)
        return web.Response(body=_silence(len(text)), content_type="audio/wav")


def _silence(chars: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\1\0" * int(8000 * max(chars, 1) / 15))
    return out.getvalue()


@contextmanager
def schema(url: str) -> Iterator[str]:
    """A fresh schema of the PostgreSQL database; its URL; dropped after."""
    name = f"narrate_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {name}")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


WORKER = """
import sys
from pathlib import Path
from narrate.engine.run import BatchJob, run_batch
for path in sys.argv[2:]:
    result, = run_batch(BatchJob([Path(path)], "milo", chain=["deepgram"],
                                concurrency=int(sys.argv[1])))
    assert result.complete, path
"""


def run_workers(stories: list[list[Path]], env: dict[str, str]) -> float:
    """Seconds until every worker has narrated its stories."""
    started = time.perf_counter()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(WORKER_CONCURRENCY), *map(str, share)],
            env=env,
        )
        for share in stories
    ]
    if any(worker.wait() != 0 for worker in workers):
        raise SystemExit("a worker failed")
    return time.perf_counter() - started


def write_stories(
    folder: Path, count: int, paragraphs: int, name: str = "story"
) -> list[Path]:
    """`count` story files of `paragraphs` distinct paragraphs each."""
    paths = []
    for number in range(count):
        path = folder / f"{name}{number}.txt"
        path.write_text(
            "\n\n".join(
                f"{name.title()} {number}, paragraph {n}: the workers share this cache."
                for n in range(paragraphs)
            )
        )
        paths.append(path)
    return paths


def main() -> None:
    """Print the throughput for 1, 2, 4 and 8 workers, then the shared-story case."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", default=os.environ.get("NARRATE_TEST_POSTGRES_URL", DEFAULT_URL)
    )
    url = parser.parse_args().postgres
    standin = StandIn()
    standin.start()

    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        stories = write_stories(folder, STORIES, PARAGRAPHS)
        shared = write_stories(folder, 1, 200, name="shared")
        for workers in (1, 2, 4, 8):
            with schema(url) as database:
                env = dict(
                    os.environ,
                    NARRATE_HOME=str(folder / f"home{workers}"),
                    NARRATE_DATABASE_URL=database,
                    NARRATE_DEEPGRAM_URL=standin.url,
                    DEEPGRAM_API_KEY="bench",
                )
                total = STORIES * PARAGRAPHS
                seconds = run_workers(
                    [stories[i::workers] for i in range(workers)], env
                )
                ideal = min(workers * WORKER_CONCURRENCY, PROVIDER_LIMIT) / LATENCY
                rate = total / seconds
                print(
                    f"{workers} worker(s), 8 stories: {rate:6.1f} paragraphs/s "
                    f"({seconds:.2f} s); ideal {ideal:.0f}/s; ratio {ideal / rate:.2f}"
                )

                before = standin.requests
                seconds = run_workers([shared] * workers, env)
                print(
                    f"{workers} worker(s), one 200-paragraph story: {seconds:.2f} s, "
                    f"{standin.requests - before} requests"
                )


if __name__ == "__main__":
    main()
