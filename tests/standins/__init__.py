"""Local stand-ins for narrate's speech providers, for tests.

Each stand-in is a real server on 127.0.0.1, in a thread of its own, that
speaks one provider's wire format and misbehaves when its script says so::

    with ElevenLabsStandIn(api_key="k") as eleven:
        eleven.script.sequence(error(503, retry_after=1), audio())
        ...  # point the client at eleven.url
        assert [r.text for r in eleven.speech_requests] == [...]
"""

from standins.deepgram import DeepgramStandIn, deepgram_error
from standins.edge import EdgeStandIn, forget_clock_skew
from standins.elevenlabs import ElevenLabsStandIn, elevenlabs_error
from standins.mp3 import silent_mp3, speech_seconds
from standins.records import RecordedRequest
from standins.replies import (
    Reply,
    audio,
    empty_audio,
    error,
    hang,
    html,
    json_as_audio,
    no_audio,
    reset,
    short_body,
    slow_audio,
    truncated,
    unknown_path,
)
from standins.rest import RestStandIn
from standins.script import Rule, Script
from standins.server import StandInServer

__all__ = [
    "DeepgramStandIn",
    "EdgeStandIn",
    "ElevenLabsStandIn",
    "RecordedRequest",
    "Reply",
    "RestStandIn",
    "Rule",
    "Script",
    "StandInServer",
    "audio",
    "deepgram_error",
    "elevenlabs_error",
    "empty_audio",
    "error",
    "forget_clock_skew",
    "hang",
    "html",
    "json_as_audio",
    "no_audio",
    "reset",
    "short_body",
    "silent_mp3",
    "slow_audio",
    "speech_seconds",
    "truncated",
    "unknown_path",
]
