"""`blendbot forget PLATFORM:USER_ID [--community ID] --yes` and `blendbot community export|delete
ID`: deleting people's and communities' data by hand."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bot.analytics import event_to_json

from .config import Settings
from .database import store_for
from .reports.build import UnknownCommunityError, resolve_community
from .storage import Store
from .storage.events import Events
from .storage.privacy import Privacy

PLATFORMS = ("discord", "telegram", "console")
LONGEST_ID = 64  # the longest id the database stores


class PrivacyUsageError(Exception):
    """Bad forget/community input: one line, exit code 2, nothing deleted."""


def add_parsers(sub: Any) -> None:
    forget = sub.add_parser("forget", help="delete one user's messages, the replies to them, "
                            "their feedback, facts and identity")
    forget.add_argument("user", help="PLATFORM:USER_ID, e.g. discord:123456789")
    forget.add_argument("--community", help="only in this community (ID or platform:ID)")
    forget.add_argument("--yes", action="store_true", help="really delete (required)")

    community = sub.add_parser("community", help="export or delete a community's data")
    csub = community.add_subparsers(dest="community_command", required=True)
    exp = csub.add_parser("export", help="print the community's events as JSON lines")
    exp.add_argument("community", help="community ID (guild or group id), or platform:ID")
    rm = csub.add_parser("delete", help="delete everything stored of the community")
    rm.add_argument("community", help="community ID (guild or group id), or platform:ID")
    rm.add_argument("--yes", action="store_true", help="really delete (required)")


def shown(value: str) -> str:
    """`value` safe to print on one line (no control characters, a bounded length)."""
    text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= 80 else text[:77] + "…"


def parse_user(ref: str) -> tuple[str, str]:
    """(platform, user id) from PLATFORM:USER_ID."""
    platform, sep, user = ref.partition(":")
    if not sep or not user.strip():
        raise PrivacyUsageError(f"'{shown(ref)}' is not PLATFORM:USER_ID "
                                f"(e.g. discord:123456789; platforms: {', '.join(PLATFORMS)})")
    if platform not in PLATFORMS:
        raise PrivacyUsageError(f"unknown platform '{shown(platform)}' "
                                f"(choose from {', '.join(PLATFORMS)})")
    if len(user) > LONGEST_ID or not user.isprintable():
        raise PrivacyUsageError(f"no user '{shown(ref)}' (not a user id this bot stores)")
    return platform, user


async def run(args: argparse.Namespace, settings: Settings) -> int:
    store = store_for(settings)
    await store.open()
    try:
        if args.command == "forget":
            return await _forget(store, args.user, args.community, args.yes)
        if args.community_command == "export":
            return await _export(store, args.community)
        return await _delete(store, args.community, args.yes)
    finally:
        await store.close()


async def _community(store: Store, ref: str, platform: str | None = None) -> tuple[str, str]:
    if not ref.strip() or len(ref) > 2 * LONGEST_ID or not ref.isprintable():
        raise PrivacyUsageError(f"no community '{shown(ref)}'")
    if platform is not None and ":" not in ref:
        ref = f"{platform}:{ref}"
    try:
        return await resolve_community(store, ref)
    except UnknownCommunityError as exc:
        raise PrivacyUsageError(shown(str(exc))) from None


async def _forget(store: Store, ref: str, community: str | None, yes: bool) -> int:
    platform, user = parse_user(ref)
    privacy = Privacy(store)
    uid = await privacy.user_id(platform, user)
    if uid is None:
        raise PrivacyUsageError(f"no user '{shown(ref)}' is stored; nothing was deleted")
    community_id = None
    if community is not None:
        where = await _community(store, community, platform)
        if where[0] != platform:
            raise PrivacyUsageError(f"community '{shown(community)}' is on {where[0]}, the "
                                    f"user on {platform}; nothing was deleted")
        community_id = await privacy.community_id(*where)
        if community_id is None or not await privacy.has_data_in(uid, community_id):
            raise PrivacyUsageError(f"'{shown(ref)}' has nothing stored in community "
                                    f"'{shown(community)}'; nothing was deleted")
    if not yes:
        raise PrivacyUsageError("forget deletes for good: add --yes to go ahead; "
                                "nothing was deleted")
    done = await privacy.forget_user(uid, community_id)
    print(f"forgot {shown(ref)}: deleted {done.line()}")
    return 0


async def _export(store: Store, ref: str) -> int:
    platform, ident = await _community(store, ref)
    async for event in Events(store).stream(ident, platform):  # bounded memory
        sys.stdout.write(event_to_json(event) + "\n")
    return 0


async def _delete(store: Store, ref: str, yes: bool) -> int:
    platform, ident = await _community(store, ref)
    if not yes:
        raise PrivacyUsageError("community delete deletes for good: add --yes to go ahead "
                                "(blendbot community export first keeps a copy); nothing "
                                "was deleted")
    privacy = Privacy(store)
    community_id = await privacy.community_id(platform, ident)
    if community_id is None:  # gone since it was resolved (another process)
        raise PrivacyUsageError(f"no community '{shown(ref)}'")
    messages = await privacy.delete_community(community_id)
    print(f"deleted community {platform}:{shown(ident)}: {messages} messages and everything "
          "else stored of it")
    return 0
