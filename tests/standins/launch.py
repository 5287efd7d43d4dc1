"""Run narrate's CLI with edge-tts pointed at a stand-in; for tests only.

    python tests/standins/launch.py ARGS...

If NARRATE_TEST_EDGE_URL is set, it replaces `edge_tts.communicate.WSS_URL`
before `narrate.cli.main()` runs with ARGS. narrate itself knows nothing of it.
"""

import os
import sys
from pathlib import Path


def main(args: list[str]) -> None:
    """Point edge-tts at the stand-in named in the environment, then run narrate."""
    url = os.environ.get("NARRATE_TEST_EDGE_URL")
    if url:
        import edge_tts.communicate

        edge_tts.communicate.WSS_URL = url  # type: ignore[attr-defined]

    from narrate.cli import main as narrate

    sys.argv = ["narrate", *args]
    narrate()


if __name__ == "__main__":
    # This folder's modules (elevenlabs.py...) must not shadow real packages.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    main(sys.argv[1:])
