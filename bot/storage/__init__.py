"""Persistence: tables, Alembic migrations and the async `Store`."""

from .store import ChannelState, Store, StoredMessage

__all__ = ["ChannelState", "Store", "StoredMessage"]
