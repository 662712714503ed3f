"""Persistence: tables, Alembic migrations and the async `Store`."""

from .store import ChannelState, DuplicateMessage, Store, StoredMessage

__all__ = ["ChannelState", "DuplicateMessage", "Store", "StoredMessage"]
