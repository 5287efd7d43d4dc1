"""The exceptions narrate raises, and the exit code each one means.

    NarrateError                  root; the CLI prints it as one line
    ├── InputError                the story file cannot be narrated (exit 4)
    ├── ConfigError               a voice, chain, option or config is wrong (exit 4)
    ├── StoreError                the cache database or audio directory failed (exit 4)
    └── ProviderError             one request to a provider failed
        ├── TransientError        worth another try: reset, 408, 429, 5xx
        │   └── TimedOutError     no answer within the deadline: not tried again
        ├── ProviderOutError      out for this run: bad key, quota, no such host
        │   └── VoiceError        this voice, model or format is refused
        ├── TooLongError          the text was over the provider's limit: split it
        └── NotAudioError         the answer was not whole, plausible audio

Only the CLI catches `NarrateError`. Provider errors never leave the engine: it
turns them into a failed attempt, and the story moves to the next provider.
Transient and not-audio failures count toward the provider's circuit breaker,
a provider-out failure opens it at once; a voice error, a too-long text, a
"busy, slow down" (429) and an unspeakable paragraph say nothing about the
provider's health.
A provider error carries what the provider said (status, its own error code,
message and request id) and never the API key.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_BAD_INPUT = 4
EXIT_NOT_PREFERRED = 5
EXIT_INTERRUPTED = 130


class NarrateError(Exception):
    """Root of every error narrate raises on purpose."""

    exit_code = EXIT_BAD_INPUT


class InputError(NarrateError):
    """The story file is missing, empty, binary or cannot be decoded."""


class ConfigError(NarrateError):
    """A voice, chain, option, URL or the config file is not usable."""


class StoreError(NarrateError):
    """The cache database or the audio directory cannot be used."""


class ProviderError(NarrateError):
    """One request to a text-to-speech provider failed.

    `code` is the provider's own error code when it sent one (for example
    `quota_exceeded`), otherwise a short word of ours (`timeout`, `reset`).
    """

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """A short reason for reports: the error code, else the status or message."""
        if self.code:
            return self.code
        if self.status is not None:
            return f"http_{self.status}"
        return self.message

    def __str__(self) -> str:
        parts = [self.provider]
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        text = ": ".join([" ".join(parts), self.message])
        if self.request_id:
            text += f" (request {self.request_id})"
        return text


class TransientError(ProviderError):
    """A failure that may pass: retry with backoff, then give up on the provider.

    `retry_after` is how long the provider asked narrate to wait, if it said.
    """


class TimedOutError(TransientError):
    """No answer within the request's deadline.

    Counted against the provider's health like any transient failure, but not
    retried: a hung provider must cost one deadline, not one per retry.
    """


class ProviderOutError(ProviderError):
    """The provider cannot serve this run at all: no retry, move the story on."""


class VoiceError(ProviderOutError):
    """The provider refused this voice, model or format; other voices may work."""


class TooLongError(ProviderError):
    """The text was over the provider's per-request limit: split it and resend."""


class NotAudioError(ProviderError):
    """The provider answered, but not with whole, plausible audio."""
