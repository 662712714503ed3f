"""The safety commands, for every platform: `/access …` (who may talk to the bot),
`/quota …` (daily token budgets), `/usage`, and `/moderation …` (word and regex lists,
the mod-log). Admins change them; `/usage` shows anyone their own use."""

from __future__ import annotations

import re

from ..storage import ChannelState
from ..storage.clean import clean_text
from ..storage.safety import Rule
from .commands import ADMIN_ONLY, CommandResult
from .inbound import InboundEvent
from .safety.moderation import PatternError, compile_pattern
from .service import ChatService
from .stages.quota import resets, today

ID = re.compile(r"-?\d{1,20}")
MAX_TOKENS = 10**9
NO_ROLES = "Roles exist on Discord only; give a user id."


def _refuse(text: str) -> CommandResult:
    return CommandResult(text, ok=False)


def _id(value: str) -> str | None:
    """A platform id (`<@123>`, `<@&123>` and `123` alike) or None."""
    text = value.strip().strip("<>@&!")
    return text if ID.fullmatch(text) else None


def parse_tokens(value: str) -> int | None:
    """A budget: a whole number of tokens (`50k`, `2m`, `10,000`) or `off` (None);
    `ValueError` with one line otherwise."""
    text = value.strip().lower().replace(",", "").replace("_", "")
    if text in ("off", "none", "unlimited"):
        return None
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    if not re.fullmatch(r"\d{1,10}(\.\d{1,3})?", number):
        raise ValueError("Give a number of tokens (e.g. 20000 or 20k) or off.")
    tokens = int(float(number) * scale)
    if tokens > MAX_TOKENS:
        raise ValueError(f"At most {MAX_TOKENS:,} tokens a day.")
    return tokens


class SafetyCommands:
    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.safety = service.safety

    async def _channel(self, ctx: InboundEvent) -> ChannelState:
        return await self.service.channel(ctx)

    # ---- /access ----------------------------------------------------------------------

    async def _rule(self, ctx: InboundEvent, effect: str, kind: str, subject: str,
                    here: bool) -> tuple[ChannelState, Rule] | CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        kind = kind.strip().lower()
        if kind not in ("user", "role"):
            return _refuse("Say user or role, then the id, e.g. /access deny user 1234.")
        if kind == "role" and ctx.platform != "discord":
            return _refuse(NO_ROLES)
        ident = _id(subject) if subject.strip() else (
            ctx.reply_to_user_id if kind == "user" else None)
        if ident is None:
            return _refuse(f"Give a {kind} id (a number), or reply to the user's message.")
        channel = await self._channel(ctx)
        return channel, Rule(effect, kind, ident, channel.id if here else None)

    async def access(self, ctx: InboundEvent, effect: str, kind: str, subject: str = "",
                     here: bool = False) -> CommandResult:
        """Allow or deny a user or role in the community, or only in this channel (`here`)."""
        effect = effect.strip().lower()
        if effect not in ("allow", "deny"):
            return _refuse("Say allow, deny, remove or list.")
        found = await self._rule(ctx, effect, kind, subject, here)
        if isinstance(found, CommandResult):
            return found
        channel, rule = found
        await self.safety.add_rule(channel.community_id, rule)
        where = "this channel" if here else "this community"
        what = f"{rule.kind} {rule.subject}"
        if effect == "deny":
            return CommandResult(f"Denied {what} in {where}: I'll ignore them there.")
        return CommandResult(f"Allowed {what} in {where}" + (
            ". While an allow list exists, only those on it can talk to me there."))

    async def access_remove(self, ctx: InboundEvent, kind: str, subject: str = "",
                            here: bool = False) -> CommandResult:
        found = await self._rule(ctx, "allow", kind, subject, here)
        if isinstance(found, CommandResult):
            return found
        channel, rule = found
        removed = False
        for effect in ("allow", "deny"):
            removed |= await self.safety.remove_rule(
                channel.community_id, Rule(effect, rule.kind, rule.subject, rule.channel_id))
        where = "this channel" if here else "this community"
        return CommandResult(f"Removed {rule.kind} {rule.subject} from {where}'s lists."
                             if removed else f"{rule.kind} {rule.subject} is on no list of "
                             f"{where}.")

    async def access_list(self, ctx: InboundEvent) -> CommandResult:
        channel = await self._channel(ctx)
        rules = [r for r in await self.safety.rules(channel.community_id)
                 if r.channel_id in (None, channel.id)]
        if not rules:
            return CommandResult("Everyone can talk to me here (no allow or deny lists).")
        lines = [f"• {r.effect} {r.kind} {r.subject}"
                 + (" (this channel)" if r.channel_id is not None else "") for r in rules]
        return CommandResult("Access lists here:\n" + "\n".join(lines))

    # ---- /quota and /usage ------------------------------------------------------------

    async def quota(self, ctx: InboundEvent, which: str, value: str,
                    role: str = "") -> CommandResult:
        """Set a daily token budget: `user` (each user), `community`, or `role` (each
        member of a Discord role); `off` removes it."""
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        which = which.strip().lower()
        if which not in ("user", "community", "role"):
            return _refuse("Say user, community or role, then the tokens a day (or off).")
        try:
            tokens = parse_tokens(value)
        except ValueError as exc:
            return _refuse(str(exc))
        community = (await self._channel(ctx)).community_id
        shown = f"{tokens:,} tokens a day" if tokens is not None else "no limit"
        if which == "role":
            if ctx.platform != "discord":
                return _refuse(NO_ROLES.replace("; give a user id", ""))
            role_id = _id(role)
            if role_id is None:
                return _refuse("Give the role (its id or mention).")
            roles = dict((await self.safety.settings(community)).role_tokens)
            if tokens is None:
                roles.pop(role_id, None)
            else:
                roles[role_id] = tokens
            await self.safety.update(community, role_tokens=roles or None)
            return CommandResult(f"Members of role {role_id}: {shown} each.")
        await self.safety.update(community, **{f"{which}_tokens": tokens})
        return CommandResult(("Each user" if which == "user" else "This community")
                             + f": {shown}.")

    async def usage(self, ctx: InboundEvent) -> CommandResult:
        """Your tokens today (and, for an admin, the community's and the models' spend)."""
        channel = await self._channel(ctx)
        community, day = channel.community_id, today().toordinal()
        settings = await self.safety.settings(community)
        options = self.service.options.safety
        user_id = await self.service.store.ensure_user(ctx.platform, ctx.user_id,
                                                       ctx.user_name)
        mine = await self.safety.user_use(day, community, user_id)
        by_role = [settings.role_tokens[r] for r in ctx.role_ids if r in settings.role_tokens]
        budget = max(by_role) if by_role else (
            settings.user_tokens if settings.user_tokens is not None else options.user_tokens)
        lines = [f"You today: {mine.tokens:,} tokens"
                 + (f" of {budget:,}" if budget is not None else "") + "."]
        if ctx.is_admin:
            total = await self.safety.community_use(day, community)
            cap = (settings.community_tokens if settings.community_tokens is not None
                   else options.community_tokens)
            lines.append(f"This community today: {total.tokens:,} tokens"
                         + (f" of {cap:,}" if cap is not None else "")
                         + (f", cost {total.cost:.4g}" if total.cost else "") + ".")
            top = await self.safety.top_users(day, community)
            if top:
                lines.append("Top users: " + ", ".join(f"{n} {t:,}" for n, t in top) + ".")
            for model_id, price in options.prices.items():
                if price.daily_cap is not None:
                    spent = await self.safety.model_spend(day, model_id)
                    lines.append(f"{model_id}: spent {spent:.4g} of {price.daily_cap:g} today "
                                 "(all communities).")
            if settings.role_tokens:
                lines.append("Role budgets: " + ", ".join(
                    f"{r} {t:,}" for r, t in settings.role_tokens.items()) + ".")
        lines.append(f"Budgets reset at {resets()}.")
        return CommandResult("\n".join(lines))

    # ---- /moderation ------------------------------------------------------------------

    async def moderation_add(self, ctx: InboundEvent, kind: str,
                             pattern: str) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        kind = kind.strip().lower()
        if kind not in ("word", "regex"):
            return _refuse("Say word or regex, then what to refuse.")
        pattern = clean_text(pattern)
        try:
            compile_pattern(kind, pattern)
        except PatternError as exc:
            return _refuse(str(exc))
        community = (await self._channel(ctx)).community_id
        if not await self.safety.add_pattern(community, kind, pattern.strip()):
            return CommandResult(f"That {kind} is on the list already.")
        count = len(await self.safety.patterns(community))
        return CommandResult(f"Added {kind} #{count}: messages and replies with it are "
                             "refused in this community.")

    async def moderation_remove(self, ctx: InboundEvent, number: str) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        community = (await self._channel(ctx)).community_id
        patterns = await self.safety.patterns(community)
        text = number.strip().lstrip("#")
        if not text.isdigit() or not 1 <= int(text) <= len(patterns):
            return _refuse(f"Give the number of an entry of /moderation list (1-"
                           f"{len(patterns)})." if patterns else "The list is empty.")
        entry = patterns[int(text) - 1]
        await self.safety.remove_pattern(community, entry.id)
        return CommandResult(f"Removed {entry.kind} #{text}.")

    async def moderation_list(self, ctx: InboundEvent) -> CommandResult:
        if not ctx.is_admin:  # the list itself is what members must not read
            return _refuse(ADMIN_ONLY)
        community = (await self._channel(ctx)).community_id
        patterns = await self.safety.patterns(community)
        settings = await self.safety.settings(community)
        endpoint = self.service.options.safety.endpoint
        lines = [f"{i}. {p.kind}: {p.pattern}" for i, p in enumerate(patterns, 1)] or [
            "No words or regexes."]
        lines.append("Endpoint: " + (f"{endpoint.kind} at {endpoint.url}" if endpoint
                                     else "none"))
        lines.append("Mod-log: " + (f"channel {settings.modlog_channel}"
                                    + (", with the text" if settings.modlog_text else "")
                                    if settings.modlog_channel else "off"))
        return CommandResult("\n".join(lines))

    async def moderation_log(self, ctx: InboundEvent, channel_id: str | None,
                             channel_name: str = "") -> CommandResult:
        """The mod-log goes to `channel_id` (None: off)."""
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        community = (await self._channel(ctx)).community_id
        await self.safety.update(community, modlog_channel=channel_id)
        if channel_id is None:
            return CommandResult("The mod-log is off.")
        where = channel_name or "this channel"
        return CommandResult(f"Moderation events will be logged in {where}.")

    async def moderation_text(self, ctx: InboundEvent, value: str) -> CommandResult:
        if not ctx.is_admin:
            return _refuse(ADMIN_ONLY)
        flag = {"on": True, "off": False}.get(value.strip().lower())
        if flag is None:
            return _refuse("Say on or off.")
        await self.safety.update((await self._channel(ctx)).community_id, modlog_text=flag)
        return CommandResult("The mod-log will quote the text." if flag
                             else "The mod-log will not quote the text.")
