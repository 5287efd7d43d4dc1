"""`narrate` as a user runs it: a subprocess, real espeak-ng, a real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import IO

import pytest

from conftest import CORPUS, EXAMPLES, cli_env


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "narrate", *args],
        capture_output=True,
        text=True,
        env=cli_env(home, **env),
        timeout=300,
    )


def rows(home: Path) -> int:
    db = home / "narrate.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        tables = {r[0] for r in connection.execute("select name from sqlite_master")}
        if "audio_entry" not in tables:
            return 0
        return connection.execute("select count(*) from audio_entry").fetchone()[0]


def audio_files(home: Path) -> list[Path]:
    return [p for p in (home / "audio").rglob("*") if p.is_file()]


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_example_story_is_narrated_offline_into_real_speech(narrate_home):
    result = run(
        narrate_home,
        "batch",
        str(EXAMPLES / "lighthouse.txt"),
        "--voice",
        "milo",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    story = json.loads(result.stdout)
    assert story["used_provider"] == story["preferred_provider"] == "espeak"
    assert story["complete"] is True
    spoken = [p for p in story["paragraphs"] if p["status"] != "skipped"]
    assert all(p["status"] == "new" for p in spoken)
    for paragraph in spoken:
        with wave.open(paragraph["audio"]) as audio:
            seconds = audio.getnframes() / audio.getframerate()
            assert audio.readframes(audio.getnframes()).strip(b"\0"), "not silence"
        assert paragraph["chars"] / 30 < seconds < paragraph["chars"] / 5 + 2
        assert paragraph["duration_s"] == pytest.approx(seconds, abs=0.01)


def test_rerun_narrates_nothing_and_reports_every_paragraph_cached(narrate_home):
    story = str(EXAMPLES / "market_day.txt")
    run(narrate_home, "batch", story)

    again = run(narrate_home, "batch", story, "--json")

    assert again.returncode == 0
    statuses = {p["status"] for p in json.loads(again.stdout)["paragraphs"]}
    assert statuses == {"cached", "skipped"}


def test_json_output_is_one_line_per_story_and_nothing_else(narrate_home):
    result = run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"), "--json")

    lines = result.stdout.splitlines()
    assert len(lines) == 1
    story = json.loads(lines[0])
    assert set(story) >= {
        "story_id",
        "voice",
        "preferred_provider",
        "used_provider",
        "complete",
        "paragraphs",
        "attempts",
    }
    paragraph = story["paragraphs"][0]
    assert set(paragraph) >= {
        "index",
        "status",
        "provider",
        "cached",
        "audio",
        "chars",
        "duration_s",
    }
    assert paragraph["index"] == 1 and Path(paragraph["audio"]).is_absolute()
    attempt = story["attempts"][0]
    assert set(attempt) >= {
        "provider",
        "outcome",
        "reason",
        "generated",
        "cached",
        "failed",
    }


def test_table_and_summary_name_the_provider_used_and_preferred(narrate_home):
    result = run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"))

    assert result.returncode == 0
    assert "Dr. Okafor bought" in result.stdout
    assert "used espeak, the preferred provider" in result.stdout.splitlines()[-1]


def test_quiet_prints_nothing_on_success(narrate_home):
    result = run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"), "--quiet")

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_out_dir_gets_numbered_files_in_paragraph_order_and_a_manifest(
    narrate_home, tmp_path
):
    out = tmp_path / "out"

    result = run(
        narrate_home, "batch", str(EXAMPLES / "lighthouse.txt"), "--out", str(out)
    )

    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    names = sorted(p.name for p in out.glob("*.wav"))
    assert names == [f"000{n}.wav" for n in (1, 2, 3, 4, 6, 7, 8)]
    listed = [p["audio"] for p in manifest["paragraphs"] if p["audio"]]
    assert listed == [str(out / n) for n in names]
    assert manifest["paragraphs"][4]["status"] == "skipped"


def test_out_dir_loses_only_the_files_its_earlier_manifest_listed(
    narrate_home, tmp_path
):
    out, story = tmp_path / "out", tmp_path / "tale.txt"
    out.mkdir()
    mine = [out / "2024.jpg", out / "0099.wav", out / "notes.txt"]
    for path in mine:
        path.write_bytes(b"the user's own file")
    story.write_text("One.\n\nTwo.\n\nThree.")
    run(narrate_home, "batch", str(story), "--out", str(out))
    story.write_text("One.\n\nTwo.")

    result = run(narrate_home, "batch", str(story), "--out", str(out))

    assert result.returncode == 0
    assert sorted(p.name for p in out.glob("000?.wav")) == ["0001.wav", "0002.wav"]
    assert all(path.read_bytes() == b"the user's own file" for path in mine)
    assert list(out.glob(".*.part")) == []


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda out: out.write_text("a file"), "not a directory"),
        (
            lambda out: (out.mkdir(), (out / "manifest.json").write_text("{}")),
            "manifest",
        ),
    ],
    ids=["a-file", "foreign-manifest"],
)
def test_out_dir_that_is_not_narrates_is_refused_before_narrating(
    narrate_home, tmp_path, make, words
):
    out = tmp_path / "out"
    make(out)

    result = run(
        narrate_home, "batch", str(EXAMPLES / "market_day.txt"), "--out", str(out)
    )

    assert result.returncode == 4
    assert words in one_error_line(result)
    assert rows(narrate_home) == 0


def test_out_dir_of_another_story_is_refused(narrate_home, tmp_path):
    out = tmp_path / "out"
    run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"), "--out", str(out))

    result = run(
        narrate_home, "batch", str(EXAMPLES / "lighthouse.txt"), "--out", str(out)
    )

    assert result.returncode == 4
    assert "market_day" in one_error_line(result)


@pytest.mark.parametrize(
    "content",
    [b"", b"   \n\t\n", b"......\n\n* * *\n"],
    ids=["zero-bytes", "whitespace", "nothing-speakable"],
)
def test_story_with_nothing_to_narrate_is_bad_input_and_leaves_no_trace(
    narrate_home, tmp_path, content
):
    story = tmp_path / "empty.txt"
    story.write_bytes(content)

    result = run(narrate_home, "batch", str(story))

    assert result.returncode == 4
    assert "nothing to narrate" in one_error_line(result)
    assert rows(narrate_home) == 0
    assert not (narrate_home / "audio").exists() or audio_files(narrate_home) == []


def test_story_with_only_blank_lines_around_one_paragraph_is_narrated(
    narrate_home, tmp_path
):
    story = tmp_path / "one.txt"
    story.write_text("\n\n\nOnly paragraph.\n\n\n\n")

    result = run(narrate_home, "batch", str(story), "--json")

    assert result.returncode == 0
    assert len(json.loads(result.stdout)["paragraphs"]) == 1


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing.txt", "no such file"),
        (lambda d: d, "directory"),
        (
            lambda d: (d / "x.bin").write_bytes(bytes(range(256)) * 8) and d / "x.bin",
            "binary",
        ),
    ],
    ids=["missing", "directory", "binary"],
)
def test_unreadable_story_files_get_one_line_and_exit_4(
    narrate_home, tmp_path, make, words
):
    result = run(narrate_home, "batch", str(make(tmp_path)))

    assert result.returncode == 4
    assert words in one_error_line(result).lower()


def test_an_empty_story_path_is_refused_not_read_as_the_current_directory(
    narrate_home,
):
    result = run(narrate_home, "batch", "", str(EXAMPLES / "market_day.txt"))

    assert result.returncode == 4
    assert "empty story path" in one_error_line(result)
    assert rows(narrate_home) == 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        *(("--timeout", v) for v in ["0", "-1", "nan", "inf", "1e400", "1e-9", "3601"]),
        *(("--concurrency", v) for v in ["0", "1001", "99999999999999999999"]),
    ],
)
def test_a_timeout_or_concurrency_the_config_file_would_refuse_is_a_usage_error(
    narrate_home, option, value
):
    story = str(EXAMPLES / "market_day.txt")

    result = run(narrate_home, "batch", story, option, value)

    assert result.returncode == 2
    assert option in one_error_line(result)
    assert rows(narrate_home) == 0


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["providers"],
        ["voices"],
        ["cache", "verify"],
        ["batch", str(EXAMPLES / "market_day.txt"), "--chain", "espeak"],
    ],
)
@pytest.mark.parametrize(
    "setting",
    [
        "[providers.edge]\ncooldown = -1",
        '[providers.deepgram]\nencoding = "wav9"',
        '[providers.elevenlabs]\nbase_url = "ftp://x"',
        '[providers.elevenlabs]\nbase_url = ""',
        "[providers.deepgram]\napi_key = 5",
        "[providers.nosuch]\nretries = 1",
        '[voices.milo]\nespeak = ""',
    ],
)
def test_every_command_refuses_a_broken_provider_table_with_exit_4(
    narrate_home, command, setting
):
    narrate_home.mkdir(parents=True, exist_ok=True)
    (narrate_home / "config.toml").write_text(setting + "\n")

    # values the environment overrides are checked all the same
    result = run(
        narrate_home,
        *command,
        NARRATE_ELEVENLABS_URL="http://127.0.0.1:9",
        DEEPGRAM_API_KEY="from-env",
    )

    assert result.returncode == 4
    assert one_error_line(result)
    assert rows(narrate_home) == 0


def test_control_characters_of_a_file_name_are_escaped_in_the_error_line(
    narrate_home, tmp_path
):
    result = run(narrate_home, "batch", str(tmp_path / "a\x1b[31mred.txt"))

    assert result.returncode == 4
    assert "\x1b" not in result.stderr
    assert "a\\x1b[31mred.txt" in one_error_line(result)


def test_a_story_named_with_an_escape_sequence_is_printed_escaped(
    narrate_home, tmp_path
):
    story = tmp_path / "esc\x1b[2Jname\u202e.txt"
    story.write_text("Hello there.\n")

    result = run(narrate_home, "batch", str(story))
    status = run(narrate_home, "status")

    assert result.returncode == 0, result.stderr
    for output in (result.stdout, status.stdout):
        assert "\x1b[2J" not in output and "\u202e" not in output
    assert "esc\\x1b[2Jname\\u202e: 1 paragraph" in result.stdout


def test_a_story_id_with_control_characters_is_a_usage_error(narrate_home):
    story = str(EXAMPLES / "market_day.txt")

    result = run(narrate_home, "batch", story, "--story-id", "id\x1b[2J")

    assert result.returncode == 2
    assert "control characters" in one_error_line(result)


@pytest.mark.parametrize("codec", ["rot13", "base64"])
def test_a_transform_codec_is_no_encoding_and_a_usage_error(narrate_home, codec):
    story = str(EXAMPLES / "market_day.txt")

    result = run(narrate_home, "batch", story, "--encoding", codec)

    assert result.returncode == 2
    assert "not a text encoding" in one_error_line(result)


def test_status_of_an_empty_cache_says_so(narrate_home):
    result = run(narrate_home, "status")

    assert (result.returncode, result.stdout) == (0, "No stories narrated yet.\n")


def test_unknown_voice_is_a_configuration_error(narrate_home):
    result = run(
        narrate_home, "batch", str(EXAMPLES / "market_day.txt"), "--voice", "nobody"
    )

    assert result.returncode == 4
    line = one_error_line(result)
    assert "nobody" in line and "milo" in line


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "nosuchdialect://user:hunter2@host/db",
        "postgresql+nosuchdriver://u:hunter2@h/d",
        "postgresql://u:p@hunter2@127.0.0.1:1/d",
    ],
)
def test_bad_database_url_is_one_line_without_the_password(narrate_home, url):
    result = run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"), "--db", url)

    assert result.returncode == 4
    assert "hunter2" not in one_error_line(result) + result.stdout


def test_unknown_provider_in_the_chain_is_a_configuration_error(narrate_home):
    result = run(
        narrate_home,
        "batch",
        str(EXAMPLES / "market_day.txt"),
        "--chain",
        "espeak,nope",
    )

    assert result.returncode == 4
    assert "nope" in one_error_line(result)


def test_usage_error_exits_2(narrate_home):
    result = run(
        narrate_home, "batch", str(EXAMPLES / "market_day.txt"), "--concurrency", "0"
    )

    assert result.returncode == 2


def test_windows_1252_story_is_narrated_with_a_warning_naming_the_encoding(
    narrate_home, tmp_path
):
    story = tmp_path / "cafe.txt"
    story.write_bytes(
        bytes.fromhex(
            "43 61 66 e9 20 70 72 69 63 65 73 20 72 6f 73 65 20 74 6f 20"
            " 35 a0 80 20 74 6f 64 61 79 2e 0d 0a"
        )
    )

    result = run(narrate_home, "batch", str(story), "--json")

    assert result.returncode == 0, result.stderr
    assert "Windows-1252" in result.stderr
    assert json.loads(result.stdout)["encoding"] == "cp1252"


def test_forced_encoding_is_used_without_a_warning(narrate_home, tmp_path):
    story = tmp_path / "cafe.txt"
    story.write_bytes("Café au lait.\n".encode("latin-1"))

    result = run(narrate_home, "batch", str(story), "--encoding", "latin-1", "--json")

    assert result.returncode == 0
    assert result.stderr == ""


def test_byte_order_mark_gives_the_same_cache_entries_as_without_it(
    narrate_home, tmp_path
):
    plain, marked = tmp_path / "story.txt", tmp_path / "marked" / "story.txt"
    marked.parent.mkdir()
    plain.write_bytes(b"Chapter One\n\nIt was late.\n")
    marked.write_bytes(b"\xef\xbb\xbfChapter One\r\n\r\nIt was late.\r\n")
    run(narrate_home, "batch", str(plain))

    result = run(narrate_home, "batch", str(marked), "--json")

    story = json.loads(result.stdout)
    assert [p["status"] for p in story["paragraphs"]] == ["cached", "cached"]


def test_interrupt_exits_130_with_one_line(narrate_home):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "narrate",
            "batch",
            str(CORPUS / "grimm_fairy_tales_en_2591-0.txt"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(narrate_home),
    )
    deadline = time.monotonic() + 60
    while rows(narrate_home) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 130
    assert stderr.strip() == "Interrupted."
    assert list((narrate_home / "audio").rglob("*.part")) == []


def test_an_interrupted_json_batch_keeps_the_lines_of_finished_stories(
    narrate_home,
):
    long_story = CORPUS / "grimm_fairy_tales_en_2591-0.txt"
    command = ["batch", str(long_story), str(EXAMPLES / "market_day.txt"), "--json"]
    process = subprocess.Popen(
        [sys.executable, "-m", "narrate", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(narrate_home),
    )
    first = process.stdout.readline()  # type: ignore[union-attr]
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=60)

    assert process.returncode == 130
    assert json.loads(first)["story_id"] == "market_day"
    assert rest == ""
    assert stderr.strip() == "Interrupted."


# narrate, with Ctrl-C arriving when the module named by its first argument
# is imported.
CTRL_C_ON_IMPORT = """
import sys

MODULE = sys.argv.pop(1)

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == MODULE:
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlC())
from narrate.__main__ import main
main()
"""


def interrupted_on_import(
    home: Path, module: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CTRL_C_ON_IMPORT, module, *args],
        capture_output=True,
        text=True,
        env=cli_env(home),
        timeout=60,
    )


def run_into(
    home: Path, stdout: int | IO[str], *args: str
) -> subprocess.CompletedProcess[str]:
    """narrate with its stdout going to `stdout`, a file or a descriptor."""
    return subprocess.run(
        [sys.executable, "-m", "narrate", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(home),
        timeout=300,
    )


def run_into_a_closed_pipe(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """narrate with a stdout whose reader has gone, as under `| head -1`."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return run_into(home, writer, *args)
    finally:
        os.close(writer)


@pytest.mark.parametrize(
    "command",
    [
        ["voices"],
        ["providers", "--json"],
        ["status"],
        ["--version"],
        ["batch", str(EXAMPLES / "lighthouse.txt")],
        ["batch", str(EXAMPLES / "lighthouse.txt"), "--dry-run"],
    ],
)
def test_a_closed_pipe_is_one_line_and_exit_4_not_a_silent_exit_1(
    narrate_home, command
):
    run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"))

    result = run_into_a_closed_pipe(narrate_home, *command)

    assert result.returncode == 4
    assert one_error_line(result) == (
        "Error: the output could not be written: Broken pipe"
    )


def test_a_json_batch_whose_output_is_lost_still_narrates_every_story(
    narrate_home,
):
    result = run_into_a_closed_pipe(narrate_home, "batch", str(EXAMPLES), "--json")

    assert result.returncode == 4
    assert "could not be written" in one_error_line(result)
    status = run(narrate_home, "status", "--json")
    recorded = [json.loads(line) for line in status.stdout.splitlines()]
    assert sorted(story["status"] for story in recorded) == ["complete"] * len(
        list(EXAMPLES.glob("*.txt"))
    )


def test_ctrl_c_while_options_are_parsed_is_one_line_and_exit_130(narrate_home):
    # the --encoding check looks the codec up, which imports its module
    story = str(EXAMPLES / "market_day.txt")

    result = interrupted_on_import(
        narrate_home, "encodings.cp500", "batch", story, "--encoding", "cp500"
    )

    assert (result.returncode, result.stderr) == (130, "Interrupted.\n")
    assert rows(narrate_home) == 0


def test_ctrl_c_while_the_command_line_loads_is_one_line_and_exit_130(
    narrate_home,
):
    result = interrupted_on_import(narrate_home, "typer", "voices")

    assert (result.returncode, result.stderr) == (130, "Interrupted.\n")


def test_voices_lists_the_catalog_with_every_provider(narrate_home):
    result = run(narrate_home, "voices", "--json")

    voices = {v["name"]: v for v in json.loads(result.stdout)}
    assert {"milo", "iris", "george", "lily"} <= set(voices)
    assert all(
        {"elevenlabs", "deepgram", "edge", "espeak"} <= set(v) for v in voices.values()
    )


def test_config_file_can_add_a_voice(narrate_home):
    narrate_home.mkdir(parents=True, exist_ok=True)
    (narrate_home / "config.toml").write_text(
        '[voices.ada]\nespeak = "en-gb-x-rp+f3"\n'
    )

    result = run(
        narrate_home,
        "batch",
        str(EXAMPLES / "market_day.txt"),
        "--voice",
        "ada",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["voice"] == "ada"


def test_broken_config_file_is_one_line_and_exit_4(narrate_home):
    narrate_home.mkdir(parents=True, exist_ok=True)
    (narrate_home / "config.toml").write_text("chain = [unquoted\n")

    result = run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"))

    assert result.returncode == 4
    assert "config.toml" in one_error_line(result)


@pytest.mark.parametrize("setting", ["audio_dir = 5", 'database_url = ""'])
def test_a_path_setting_that_is_not_a_string_is_refused(narrate_home, setting):
    narrate_home.mkdir(parents=True, exist_ok=True)
    (narrate_home / "config.toml").write_text(setting + "\n")

    result = run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"))

    assert result.returncode == 4
    key = setting.split()[0]
    assert one_error_line(result).endswith(f"{key} must be a non-empty string")
    assert not (narrate_home / "audio").exists()


def test_a_config_file_named_by_narrate_config_must_exist(narrate_home, tmp_path):
    missing = tmp_path / "typo.toml"

    result = run(
        narrate_home,
        "batch",
        str(EXAMPLES / "market_day.txt"),
        NARRATE_CONFIG=str(missing),
    )

    assert result.returncode == 4
    assert one_error_line(result) == (
        f"Error: {missing}: no such config file (NARRATE_CONFIG names it)"
    )
    assert rows(narrate_home) == 0


def test_a_directory_is_narrated_as_one_json_line_per_story(narrate_home):
    result = run(narrate_home, "batch", str(EXAMPLES), "--json")

    assert result.returncode == 0, result.stderr
    stories = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(s["story_id"] for s in stories) == [
        "lighthouse",
        "market_day",
        "the_long_walk",
    ]
    assert all(s["complete"] and s["status"] == "complete" for s in stories)


def test_a_bad_file_among_good_ones_fails_alone_and_sets_the_exit_code(
    narrate_home, tmp_path
):
    missing = tmp_path / "missing.txt"

    result = run(
        narrate_home, "batch", str(EXAMPLES / "market_day.txt"), str(missing), "--json"
    )

    assert result.returncode == 4
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    bad, good = sorted(lines, key=lambda story: story["error"] is None)
    assert good["complete"] and good["error"] is None
    assert bad["story_id"] == "missing" and "no such file" in bad["error"]
    assert (bad["degraded"], bad["encoding"], bad["status"]) == (
        False,
        None,
        "incomplete",
    )
    assert result.stderr.count("Error:") == 1


def test_status_lists_every_story_and_how_it_was_narrated(narrate_home):
    run(narrate_home, "batch", str(EXAMPLES / "market_day.txt"))
    run(narrate_home, "batch", str(EXAMPLES / "lighthouse.txt"), "--voice", "iris")

    result = run(narrate_home, "status", "--json")

    rows = {r["story_id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(rows) == {"market_day", "lighthouse"}
    assert rows["lighthouse"]["voice"] == "iris"
    assert rows["market_day"]["status"] == "complete"
    assert (
        rows["market_day"]["used_provider"] == rows["market_day"]["preferred_provider"]
    )
    assert run(narrate_home, "status", "--degraded", "--json").stdout == ""


def test_a_story_id_too_long_for_the_cache_is_refused_before_narrating(
    narrate_home, tmp_path
):
    story = tmp_path / "tale.txt"
    story.write_text("One tale.")

    result = run(narrate_home, "batch", str(story), "--story-id", "x" * 256)

    assert result.returncode == 4
    assert "256 characters" in one_error_line(result)
    assert rows(narrate_home) == 0


def test_two_files_with_one_story_id_are_refused(narrate_home, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "tale.txt").write_text("One tale.")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "tale.txt").write_text("Another tale.")

    result = run(narrate_home, "batch", str(tmp_path / "a"), str(tmp_path / "b"))

    assert result.returncode == 4
    assert "tale" in one_error_line(result)


@pytest.mark.parametrize(
    "command",
    [
        ["voices"],
        ["batch", str(EXAMPLES / "lighthouse.txt"), "--json"],
        ["batch", str(EXAMPLES / "lighthouse.txt"), "--dry-run"],
        ["upgrade", "--dry-run"],
    ],
)
def test_output_that_cannot_be_written_is_one_line_and_exit_4(narrate_home, command):
    with open("/dev/full", "w") as full:
        result = run_into(narrate_home, full, *command)

    assert result.returncode == 4
    assert one_error_line(result) == (
        "Error: the output could not be written: No space left on device"
    )
