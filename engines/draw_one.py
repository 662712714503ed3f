"""The draw-one modes (`single`, `uniform`, `weighted`, `learned`): one model per reply, with
failover.

When the drawn model fails (an error, a timeout, a stream that breaks before its first word)
another member is drawn the same way among the remaining healthy ones, and the reply records
which models failed first.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from .base import ChatModel, Generation, ModelError
from .gate import BusyError
from .policies import SelectionPolicy
from .request import AllModelsDownError, Members, ReplyRequest

log = logging.getLogger(__name__)


class Attempts:
    """One reply's draws: the members tried so far and how each one let the reply down."""

    def __init__(self, members: Members, policy: SelectionPolicy, request: ReplyRequest
                 ) -> None:
        self.members = members
        self.policy = policy
        self.request = request
        self.failed: list[str] = []
        self.errors: list[BaseException] = []
        self.busy: list[str] = []

    def next_model(self) -> ChatModel:
        """The next member to try; raises when none is left.

        Busy members win (the user is asked to retry); when the only member that could answer
        failed, its own (user-safe) message is kept.
        """
        tried = (*self.failed, *self.busy)
        try:
            if self.request.avoid:
                try:
                    return self.members.draw(self.policy, self.request.blend,
                                             exclude=(*tried, *self.request.avoid))
                except AllModelsDownError:
                    pass  # only the members to avoid are left: one of them answers again
            return self.members.draw(self.policy, self.request.blend, exclude=tried)
        except AllModelsDownError:
            if self.busy:
                raise BusyError(", ".join(self.busy)) from None
            available = set(self.members.available_members())
            resting = [m for m in self.members.models
                       if m not in available and m not in self.failed]
            if len(self.errors) == 1 and isinstance(self.errors[0], ModelError) and not resting:
                raise AllModelsDownError(str(self.errors[0])) from self.errors[0]
            raise

    def was_busy(self, model: ChatModel, error: BusyError) -> None:
        log.info("model %s is busy (%s queue full); trying another", model.id, error.queue)
        self.busy.append(model.id)

    def failed_with(self, model: ChatModel, error: BaseException, *, started: bool) -> None:
        self.members.record_failure(model, error, started=started)
        self.failed.append(model.id)
        self.errors.append(error)

    def succeeded(self, model: ChatModel, generation: Generation) -> Generation:
        self.members.record_success(model)
        if self.failed:
            log.warning("reply for %s answered by %s after failover from %s",
                        self.request.channel, model.id, ", ".join(self.failed))
            generation = replace(generation, failed_over_from=tuple(self.failed))
        return generation


class DrawOneMode:
    """One model per reply, chosen by a selection policy; it answers from the whole history.

    When the chosen model fails before writing anything, another member is drawn the same way
    from the healthy rest; a model that fails mid-stream ends the reply with an error.
    """

    def __init__(self, policy: SelectionPolicy) -> None:
        self.policy = policy

    async def generate(self, members: Members, request: ReplyRequest) -> Generation:
        attempts = Attempts(members, self.policy, request)
        while True:
            model = attempts.next_model()
            try:
                async with members.turn(model, request.channel):
                    generation = await model.generate(
                        request.conversation, request.params, channel=request.channel
                    )
            except BusyError as exc:
                attempts.was_busy(model, exc)
            except Exception as exc:
                attempts.failed_with(model, exc, started=False)
            else:
                return attempts.succeeded(model, generation)

    async def stream(
        self, members: Members, request: ReplyRequest
    ) -> AsyncIterator[str | Generation]:
        attempts = Attempts(members, self.policy, request)
        while True:
            model = attempts.next_model()
            started = False  # once the user has seen text, another model cannot take over
            try:
                async with members.turn(model, request.channel):
                    async for item in model.stream(
                        request.conversation, request.params, channel=request.channel
                    ):
                        if isinstance(item, Generation):
                            item = attempts.succeeded(model, item)
                        elif item:
                            started = True
                        yield item
                return
            except BusyError as exc:
                attempts.was_busy(model, exc)
            except Exception as exc:
                attempts.failed_with(model, exc, started=started)
                if started:
                    if isinstance(exc, ModelError):
                        raise
                    raise ModelError(f"model '{model.id}' stopped in the middle of its reply"
                                     ) from exc
