"""Access lists: who may talk to the bot in a channel, by the community's and the
channel's allow and deny entries. A deny anywhere wins; where a scope has allow entries,
only the users (or members of the roles) they name may talk."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ...storage.safety import Rule


def allowed(rules: Sequence[Rule], channel_id: int, user_id: str,
            roles: Collection[str] = ()) -> bool:
    def names(rule: Rule) -> bool:
        return (rule.subject == user_id if rule.kind == "user"
                else rule.kind == "role" and rule.subject in roles)

    for scope in (None, channel_id):
        here = [r for r in rules if r.channel_id == scope]
        if any(r.effect == "deny" and names(r) for r in here):
            return False
        allows = [r for r in here if r.effect == "allow"]
        if allows and not any(names(r) for r in allows):
            return False
    return True


class DailyNotices:
    """At most one notice a day per key (in this process)."""

    def __init__(self) -> None:
        self._given: dict[tuple[str, ...], int] = {}

    def first_today(self, key: tuple[str, ...], day: int) -> bool:
        if self._given.get(key) == day:
            return False
        if len(self._given) > 100_000:
            self._given = {k: d for k, d in self._given.items() if d == day}
        self._given[key] = day
        return True
