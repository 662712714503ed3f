"""Which character a channel talks to: the bundled personas plus cards admins imported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from persona import ASSISTANT, CharacterCard, bundled_cards

from .storage.library import Library

BUNDLED, IMPORTED = "bundled:", "db:"
NSFW_TAGS = frozenset({"nsfw", "18+", "adult"})
NSFW_TAG = "NSFW"  # what an admin's flag on import (`persona import --nsfw`) adds to the tags


def is_nsfw(card: CharacterCard) -> bool:
    """Tagged NSFW (by its author, or by an admin on import): only for age-restricted
    channels and opted-in chats (`bot.conversation.nsfw`)."""
    return any(tag.strip().casefold() in NSFW_TAGS for tag in card.data.tags)


def flag_nsfw(card: CharacterCard) -> CharacterCard:
    """The card with the NSFW tag added."""
    if is_nsfw(card):
        return card
    data = card.data.model_copy(update={"tags": [*card.data.tags, NSFW_TAG]})
    return card.model_copy(update={"data": data})


@dataclass(frozen=True, slots=True)
class PersonaChoice:
    ref: str  # what a channel stores: "bundled:<slug>" or "db:<id>"
    name: str
    source: Literal["bundled", "imported"]
    card: CharacterCard
    avatar: bytes | None = None


class Personas:
    def __init__(self, library: Library, bot_name: str | None = None) -> None:
        self.library = library
        self.bundled = {
            slug: PersonaChoice(BUNDLED + slug, card.name, "bundled", card)
            for slug, card in bundled_cards(bot_name).items()
        }

    @property
    def default(self) -> PersonaChoice:
        return self.bundled[ASSISTANT]

    async def find(self, ref: str) -> PersonaChoice | None:
        """By stored ref, by imported name or id (newest first), then by bundled name or slug."""
        ref = ref.strip()
        if ref.startswith(BUNDLED):
            return self.bundled.get(ref.removeprefix(BUNDLED))
        stored = await self.library.persona(ref.removeprefix(IMPORTED))
        if stored is not None:
            return PersonaChoice(IMPORTED + str(stored.id), stored.name, "imported",
                                 stored.card, stored.avatar)
        if ref.startswith(IMPORTED):
            return None
        key = ref.casefold()
        return next((p for slug, p in self.bundled.items()
                     if key in (slug, p.name.casefold())), None)

    async def for_ref(self, ref: str | None) -> PersonaChoice:
        """A channel's persona; the default when none is set or it was deleted."""
        found = await self.find(ref) if ref else None
        return found or self.default

    async def all(self) -> list[PersonaChoice]:
        imported = [
            PersonaChoice(IMPORTED + str(p.id), p.name, "imported", p.card, p.avatar)
            for p in await self.library.personas()
        ]
        return [*self.bundled.values(), *imported]
