"""owed replies: a user's message the bot has yet to answer carries a lease

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("owed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("owed_preview", sa.String(64), nullable=True))
    op.create_index("ix_messages_owed", "messages", ["owed_until"],
                    postgresql_where=sa.text("owed_until IS NOT NULL"),
                    sqlite_where=sa.text("owed_until IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_messages_owed", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("owed_preview")
        batch.drop_column("owed_until")
