"""inbox: platform updates recorded before they are acknowledged, and a lease per chat

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_updates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("update_id", sa.BigInteger, nullable=False),
        sa.Column("chat", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("platform", "update_id", name="uq_inbox_update"),
    )
    op.create_index("ix_inbox_open", "inbox_updates", ["platform", "chat", "done_at"])
    op.create_table(
        "inbox_chats",
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("chat", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, server_default=""),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("inbox_chats")
    op.drop_index("ix_inbox_open", table_name="inbox_updates")
    op.drop_table("inbox_updates")
