"""import lookup: an index on messages.external_id, so an import batch finds its own
messages without reading the history of the channels it touches

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_external_id", "messages", ["external_id"])


def downgrade() -> None:
    op.drop_index("ix_messages_external_id", "messages")
