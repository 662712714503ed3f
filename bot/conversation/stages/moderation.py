"""Moderation: the community's word and regex lists, then the configured endpoint, judge
the user's message before any model runs and the reply before it is stored. Flagged input:
a short refusal, nothing stored, no model call. A flagged reply is drawn again once from
another member (`draw_again`, as the loop guard does), then refused. Each event is one line
in the mod-log. An endpoint that is down lets input through and refuses output, unless the
config says otherwise (logged either way)."""

from __future__ import annotations

import logging
from typing import Literal

from ...storage.safety import Pattern, SafetyStore
from ..inbound import InboundEvent
from ..pipeline import Next, Turn
from ..safety.moderation import EndpointCheck, EndpointDown, Flag, matching
from ..safety.modlog import ModLog
from ..safety.options import SafetyOptions
from .generate import Generate
from .redraw import draw_again

log = logging.getLogger(__name__)
Direction = Literal["input", "output"]
INPUT_REFUSED = "(I can't answer that message here.)"
OUTPUT_REFUSED = "(I wrote something I can't post here, so I won't answer that one.)"
DOWN = Flag("moderation endpoint down")


class Moderator:
    """Judges a text for a community: its lists first (no round trip), then the endpoint."""

    def __init__(self, safety: SafetyStore, options: SafetyOptions, modlog: ModLog) -> None:
        self.safety = safety
        self.options = options
        self.modlog = modlog
        self.endpoint = EndpointCheck(options.endpoint) if options.endpoint else None

    async def patterns(self, community_id: int) -> tuple[Pattern, ...]:
        return await self.safety.patterns(community_id)

    async def judge(self, community_id: int, text: str, direction: Direction) -> Flag | None:
        found = matching(text, await self.patterns(community_id))
        if found is not None or self.endpoint is None or not text.strip():
            return found
        try:
            return await self.endpoint(text)
        except EndpointDown as exc:
            fail = self.options.input_fail if direction == "input" else self.options.output_fail
            log.warning("moderation endpoint down (%s): %s %s", exc,
                        "refusing" if fail == "closed" else "letting through", direction)
            return DOWN if fail == "closed" else None

    async def note(self, event: InboundEvent, community_id: int, what: str, flag: Flag,
                   text: str) -> None:
        await self.modlog.note(event, await self.safety.settings(community_id), what,
                               flag.rule, text)


class InputModeration:
    def __init__(self, moderator: Moderator) -> None:
        self.moderator = moderator

    async def __call__(self, turn: Turn, rest: Next) -> None:
        channel, event = turn.channel, turn.event
        assert channel is not None
        flag = await self.moderator.judge(channel.community_id, event.text, "input")
        if flag is not None:
            await self.moderator.note(event, channel.community_id, "message refused", flag,
                                      event.text)
            return turn.end("notice", INPUT_REFUSED, reason="moderated input")
        patterns = await self.moderator.patterns(channel.community_id)
        if self.moderator.endpoint is not None:  # replies show once judged: no previews
            turn.screen = _always
        elif patterns:  # a preview stops before a listed word or pattern
            turn.screen = lambda text: matching(text, patterns) is not None
        await rest(turn)


def _always(text: str) -> bool:
    return True


class OutputModeration:
    def __init__(self, moderator: Moderator, generate: Generate) -> None:
        self.moderator = moderator
        self.generate = generate

    async def __call__(self, turn: Turn, rest: Next) -> None:
        channel, first = turn.channel, turn.request
        assert channel is not None and first is not None and turn.generation is not None
        community = channel.community_id
        flag = await self.moderator.judge(community, turn.generation.text, "output")
        if flag is None:
            return await rest(turn)
        flagged = turn.generation
        await self.moderator.note(turn.event, community, "reply withheld", flag, flagged.text)
        log.info("reply for %s by %s flagged (%s); drawing again", turn.key,
                 flagged.model_id, flag.rule)
        again = await draw_again(self.generate, turn, first, [flagged.model_id])
        if again is not None:
            flag = await self.moderator.judge(community, again.text, "output")
            if flag is None:
                turn.generation = again
                return await rest(turn)
            await self.moderator.note(turn.event, community, "reply withheld", flag,
                                      again.text)
        turn.generation = again or flagged  # what was written counts toward the budgets
        return turn.end("notice", OUTPUT_REFUSED, reason="moderated output")
