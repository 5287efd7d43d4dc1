"""Many narrate processes sharing one cache: SQLite file or PostgreSQL schema.

Eight `narrate batch` processes start together on the same story against a
Deepgram stand-in that answers after 50 ms. They must all finish, leave one
cache entry per paragraph, and pay for each paragraph once between them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from conftest import cli_env
from e2e import DG_KEY, LAUNCH
from standins import DeepgramStandIn, slow_audio

WORKERS = 8
STORY = "\n\n".join(
    f"Paragraph {n} of the shared story, told once for every worker."
    for n in range(200)
)


def start_workers(home: Path, database_url: str, deepgram: DeepgramStandIn, count: int):
    story = home.parent / "shared.txt"
    story.write_text(STORY)
    env = cli_env(
        home,
        DEEPGRAM_API_KEY=DG_KEY,
        NARRATE_DEEPGRAM_URL=deepgram.url,
        NARRATE_CHAIN="deepgram",
    )
    command = [
        sys.executable,
        str(LAUNCH),
        "batch",
        str(story),
        "--json",
        "--db",
        database_url,
    ]
    return [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(count)
    ]


def entries(database_url: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(
        database_url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT provider, text_hash FROM audio_entry"
        ).fetchall()
    engine.dispose()
    return [tuple(row) for row in rows]


def finish(workers: list[subprocess.Popen[str]]) -> list[tuple[int, dict, str]]:
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        story = json.loads(out) if out.strip() else {}
        results.append((worker.returncode, story, err))
    return results


def test_eight_workers_on_one_story_pay_for_each_paragraph_once(
    narrate_home, database_url
):
    with DeepgramStandIn(api_key=DG_KEY) as deepgram:
        deepgram.script.always(slow_audio(0.05))

        results = finish(start_workers(narrate_home, database_url, deepgram, WORKERS))
        requests = Counter(r.text for r in deepgram.speech_requests)

    assert [code for code, _, _ in results] == [0] * WORKERS, results[0][2]
    for _, story, _ in results:
        assert story["complete"] and story["used_provider"] == "deepgram"
        assert all(Path(p["audio"]).is_file() for p in story["paragraphs"])
    assert len(requests) == 200 and set(requests.values()) == {1}
    cached = entries(database_url)
    assert len(cached) == 200 and len(set(cached)) == 200


def test_a_killed_worker_costs_the_others_little(narrate_home, database_url):
    with DeepgramStandIn(api_key=DG_KEY) as deepgram:
        deepgram.script.always(slow_audio(0.05))
        workers = start_workers(narrate_home, database_url, deepgram, 4)
        victim = workers[0]
        while len(deepgram.speech_requests) < 40:
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

        results = finish(workers[1:])
        requests = Counter(r.text for r in deepgram.speech_requests)

    assert [code for code, _, _ in results] == [0, 0, 0], results[0][2]
    assert len(requests) == 200
    assert sum(requests.values()) <= 200 + 8, "only what the victim had in flight"
    assert len(set(entries(database_url))) == 200
