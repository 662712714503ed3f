"""Imported personas (character cards) and standalone lorebooks, kept in the database."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select

from persona import CharacterCard, Lorebook, parse_card

from .store import Store
from .tables import LorebookRow, PersonaRow


@dataclass(frozen=True, slots=True)
class StoredPersona:
    id: int
    name: str
    spec: str  # the spec the card was imported from
    card: CharacterCard
    avatar: bytes | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredLorebook:
    id: int
    name: str
    book: Lorebook


def _persona(row: PersonaRow) -> StoredPersona:
    card = parse_card(row.card).model_copy(update={"spec": row.spec})
    return StoredPersona(row.id, row.name, row.spec, card, row.avatar, row.created_at)


def _parse_id(ref: str) -> int | None:
    ref = ref.strip().removeprefix("#")
    return int(ref) if ref.isdigit() else None


class Library:
    """A persona or lorebook a turn looks up (by its channel's setting) is kept for the
    Store's `CACHE_TTL_S`: a turn neither queries nor parses it again. Writes here drop them;
    those of another process show within the TTL."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._found: dict[tuple[str, str | int], tuple[Any, float]] = {}

    def _cached(self, key: tuple[str, str | int]) -> tuple[bool, Any]:
        hit = self._found.get(key)
        if hit is None or hit[1] < time.monotonic():
            return False, None
        return True, hit[0]

    def _keep(self, key: tuple[str, str | int], value: Any) -> Any:
        if len(self._found) > 1_000:
            self._found.clear()
        self._found[key] = (value, time.monotonic() + self.store.CACHE_TTL_S)
        return value

    async def add_persona(
        self, card: CharacterCard, avatar: bytes | None, *, replace: bool = False
    ) -> tuple[int, bool]:
        """Store a card; with `replace`, overwrite the newest persona of that name.

        Returns (id, replaced). Without `replace` an existing name gets a new id.
        """
        async with self.store.session() as s:
            row = None
            if replace:
                row = await s.scalar(
                    select(PersonaRow)
                    .where(func.lower(PersonaRow.name) == card.name.lower())
                    .order_by(PersonaRow.id.desc())
                )
            replaced = row is not None
            if row is None:
                row = PersonaRow(name=card.name)
                s.add(row)
            row.spec, row.card, row.avatar = card.spec, card.to_v2(), avatar
            await s.commit()
        self._found.clear()
        return row.id, replaced

    async def personas(self) -> list[StoredPersona]:
        async with self.store.session() as s:
            rows = (await s.scalars(select(PersonaRow).order_by(PersonaRow.id))).all()
        return [_persona(r) for r in rows]

    async def persona(self, ref: str) -> StoredPersona | None:
        """By id (`12` or `#12`), else the newest with that name (any case)."""
        known, found = self._cached(("persona", ref))
        if known:
            return cast(StoredPersona | None, found)
        return cast(StoredPersona | None, self._keep(("persona", ref), await self._persona(ref)))

    async def _persona(self, ref: str) -> StoredPersona | None:
        async with self.store.session() as s:
            ident = _parse_id(ref)
            row = await s.get(PersonaRow, ident) if ident is not None else None
            if row is None:
                row = await s.scalar(
                    select(PersonaRow)
                    .where(func.lower(PersonaRow.name) == ref.strip().lower())
                    .order_by(PersonaRow.id.desc())
                )
        return _persona(row) if row else None

    async def add_lorebook(self, book: Lorebook) -> int:
        async with self.store.session() as s:
            row = LorebookRow(name=book.name or "lorebook", book=book.model_dump(mode="json"))
            s.add(row)
            await s.commit()
        self._found.clear()
        return row.id

    async def lorebooks(self) -> list[StoredLorebook]:
        async with self.store.session() as s:
            rows = (await s.scalars(select(LorebookRow).order_by(LorebookRow.id))).all()
        return [StoredLorebook(r.id, r.name, Lorebook.model_validate(r.book)) for r in rows]

    async def lorebook(self, ref: str | int) -> StoredLorebook | None:
        known, found = self._cached(("lorebook", ref))
        if known:
            return cast(StoredLorebook | None, found)
        return cast(StoredLorebook | None, self._keep(("lorebook", ref),
                                                      await self._lorebook(ref)))

    async def _lorebook(self, ref: str | int) -> StoredLorebook | None:
        async with self.store.session() as s:
            ident = ref if isinstance(ref, int) else _parse_id(ref)
            row = await s.get(LorebookRow, ident) if ident is not None else None
            if row is None and isinstance(ref, str):
                row = await s.scalar(
                    select(LorebookRow)
                    .where(func.lower(LorebookRow.name) == ref.strip().lower())
                    .order_by(LorebookRow.id.desc())
                )
        return StoredLorebook(row.id, row.name, Lorebook.model_validate(row.book)) if row else None
