"""A run killed mid-story leaves a cache the next run can trust (case C20)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

from narrate.store.cache import Cache

HERE = Path(__file__).parent


def start(url: str, audio_dir: Path, slow: int) -> subprocess.Popen[str]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    )
    return subprocess.Popen(
        [sys.executable, str(HERE / "slow_story.py"), url, str(audio_dir), str(slow)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_killed_run_loses_only_the_paragraph_in_flight(database_url, narrate_home):
    audio_dir = narrate_home / "audio"
    Cache.open(database_url).close()
    process = start(database_url, audio_dir, slow=5)
    cache = Cache.open(database_url)
    deadline = time.monotonic() + 30
    while cache.count() < 9 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cache.count() == 9, "every paragraph but the slow one is done"

    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    rerun = start(database_url, audio_dir, slow=0)
    output, _ = rerun.communicate(timeout=60)

    assert rerun.returncode == 0
    assert output.strip() == "requests: 1", "only paragraph 5 is narrated again"
    assert cache.count() == 10
    finals = list(audio_dir.rglob("*.wav"))
    assert len(finals) == 10
    cache.close()
    for path in finals:
        with wave.open(str(path)) as audio:
            assert audio.getnframes() > 0
