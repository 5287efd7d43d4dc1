"""`--dry-run`: what each provider of the chain would be sent, with no request.

For every story and every provider of the chain, the plan counts the
distinct paragraphs the provider already has in the cache and those it
would be sent, with their characters as the requests would carry them
(chunked at the provider's limit). Each provider is counted as if the story
reached it; the note says whether it would be skipped (breaker open, over a
budget, no voice) and which provider the story would most likely land on.
Nothing is written: no claim, no probe, no reservation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from narrate.engine.batch import StoryNarrator
from narrate.engine.breaker import Admission, Breaker, BreakerPolicy
from narrate.engine.results import LeftOut
from narrate.engine.story import Story, planned_chars, units
from narrate.providers.base import Provider
from narrate.text import Paragraph
from narrate.voices import Voice


@dataclass(frozen=True)
class ProviderPlan:
    """One provider's share of a story, if the story reached it."""

    provider: str
    cached: int
    cached_chars: int
    to_send: int
    chars: int
    skip: str | None = None
    note: str | None = None
    lands: bool = False


@dataclass
class StoryPlan:
    """A story as a dry run sees it: each provider's plan, or why it cannot run."""

    story_id: str
    source: Path
    voice: str
    paragraphs: int = 0
    providers: list[ProviderPlan] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


async def plan_story(
    narrator: StoryNarrator,
    story_id: str,
    source: Path,
    paragraphs: Sequence[Paragraph],
    voice: Voice,
    chain: Sequence[Provider],
) -> StoryPlan:
    """What narrating the story would send each provider of the chain."""
    story = Story(story_id, voice, units(paragraphs))
    plan = StoryPlan(story_id, source, voice.name, len(story.units))
    landed = False
    for provider in chain:
        step = await asyncio.to_thread(_plan_provider, narrator, story, provider)
        if step.skip is None and not landed:
            landed = True
            step = ProviderPlan(**{**step.__dict__, "lands": True})
            narrator.budget.run_used += step.chars if provider.billed else 0
        plan.providers.append(step)
    return plan


def _plan_provider(
    narrator: StoryNarrator, story: Story, provider: Provider
) -> ProviderPlan:
    voice_id = story.voice.for_provider(provider.name)
    if voice_id is None:
        message = f"voice {story.voice.name!r} has no {provider.name} voice"
        return ProviderPlan(provider.name, 0, 0, 0, 0, "no_voice", message)

    hashes = [unit.text_hash for unit in story.units]
    found = narrator.shop.usable(story, provider, voice_id, hashes)
    todo = [unit for unit in story.units if unit.text_hash not in found]
    chars = planned_chars(todo, provider.text_limit(voice_id))
    cached_chars = sum(
        len(unit.text) for unit in story.units if unit.text_hash in found
    )
    skip, note = None, None
    if todo:
        policy = narrator.breakers.get(provider.name, BreakerPolicy())
        breaker = Breaker(provider.name, narrator.health, policy, narrator.owner)
        admission = breaker.peek()
        over = narrator.budget.over(provider, chars)
        if over is not None:
            skip, note = "budget", f"budget: {over}"
        elif admission is Admission.SKIP and provider.name in narrator.early_probes:
            note = "breaker open: one early probe request first"
        elif admission is Admission.SKIP:
            until = breaker.retry_at
            when = f" until {until.astimezone():%Y-%m-%d %H:%M}" if until else ""
            skip, note = "breaker_open", f"breaker open{when}"
        elif admission is Admission.PROBE:
            note = "one probe request first"
    return ProviderPlan(
        provider.name, len(found), cached_chars, len(todo), chars, skip, note
    )


def plan_dict(plan: StoryPlan) -> dict[str, object]:
    """The plan as the JSON object `narrate batch --dry-run --json` prints."""
    return {
        "story_id": plan.story_id,
        "source": str(plan.source),
        "voice": plan.voice,
        "dry_run": True,
        "paragraphs": plan.paragraphs,
        "error": plan.error,
        "warnings": plan.warnings,
        "providers": [
            {
                "provider": p.provider,
                "cached": p.cached,
                "cached_chars": p.cached_chars,
                "to_send": p.to_send,
                "chars": p.chars,
                "skip": p.skip,
                "note": p.note,
                "lands": p.lands,
            }
            for p in plan.providers
        ],
        "left_out": [
            {"provider": item.provider, "reason": item.reason, "message": item.message}
            for item in plan.left_out
        ],
    }
