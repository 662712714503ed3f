"""`/remember <fact>`, `/memories`, `/forget_memory <n>`: pinned facts and what a channel
remembers. An admin's fact is the channel's; anyone else's is their own (in every prompt
where they talk). Facts are kept within the token budget the prompt gives them, counted
with the blend members' tokenizers; beyond it the oldest go, and whoever adds one is told."""

from __future__ import annotations

from .commands import CommandResult
from .inbound import InboundEvent
from .service import ChatService

FACT_CHARS = 500
ADMIN_FACT = "Only admins can remove this channel's facts; nothing was removed."


class MemoryCommands:
    def __init__(self, service: ChatService) -> None:
        self.service = service

    async def _where(self, ctx: InboundEvent) -> tuple[int, int]:
        channel = await self.service.channel(ctx)
        user = await self.service.store.ensure_user(ctx.platform, ctx.user_id, ctx.user_name)
        return channel.id, user

    async def remember(self, ctx: InboundEvent, fact: str) -> CommandResult:
        fact = " ".join(fact.split())
        if not fact:
            return CommandResult("Usage: /remember <fact>, e.g. /remember Alice likes green "
                                 "tea", ok=False)
        if len(fact) > FACT_CHARS:
            return CommandResult(f"That is too long to pin ({len(fact)} characters; at most "
                                 f"{FACT_CHARS}); nothing was saved.", ok=False)
        channel_id, user_id = await self._where(ctx)
        memory, memories = self.service.memory, self.service.memory.memories
        mine = None if ctx.is_admin else user_id
        await memories.add_fact(fact, channel_id=channel_id, user_id=mine, author_id=user_id)
        channel = await self.service.channel(ctx)
        members = memory.members(self.service.blend_of(channel))
        budget = min(memory.facts_budget, min(m.context_window for m in members) // 4)
        facts = await memories.facts(channel_id, [user_id])
        dropped = []
        while facts:
            used = 0
            for f in facts:
                used = used + max([await m.count_tokens(f"- {f.text}\n") for m in members])
            if used <= budget:
                break
            oldest = next((f for f in facts if f.user_id == mine), facts[0])
            await memories.delete_fact(oldest.id)
            dropped.append(oldest.text)
            facts.remove(oldest)
        whose = "this channel" if mine is None else "you"
        text = f"I'll remember that (for {whose})."
        if dropped:
            gone = "; ".join(f'"{d}"' for d in dropped)
            text += (f" Pinned facts are kept within {budget} tokens, so I forgot the oldest: "
                     f"{gone}.")
        return CommandResult(text)

    async def memories(self, ctx: InboundEvent) -> CommandResult:
        channel_id, user_id = await self._where(ctx)
        memories = self.service.memory.memories
        summary = await memories.summary(channel_id)
        facts = await memories.facts(channel_id, [user_id])
        lines = []
        if summary is not None:
            lines.append(f"Summary of the {summary.turns} earlier messages: {summary.text}")
        if facts:
            lines.append("Pinned facts (/forget_memory <n> removes one):")
            lines += [f"{n}. {f.text}" + (" (yours)" if f.user_id is not None else "")
                      for n, f in enumerate(facts, 1)]
        return CommandResult("\n".join(lines) or "Nothing pinned yet; /remember <fact> pins "
                             "one.")

    async def forget_memory(self, ctx: InboundEvent, number: str) -> CommandResult:
        channel_id, user_id = await self._where(ctx)
        facts = await self.service.memory.memories.facts(channel_id, [user_id])
        try:
            fact = facts[int(number) - 1] if int(number) >= 1 else None
        except (ValueError, IndexError):
            fact = None
        if fact is None:
            return CommandResult(f"Usage: /forget_memory <n>, n from 1 to {len(facts)} as "
                                 "/memories lists them." if facts else
                                 "There are no pinned facts to forget.", ok=False)
        if fact.user_id is None and not ctx.is_admin:
            return CommandResult(ADMIN_FACT, ok=False)
        await self.service.memory.memories.delete_fact(fact.id)
        return CommandResult(f'Forgotten: "{fact.text}".')
