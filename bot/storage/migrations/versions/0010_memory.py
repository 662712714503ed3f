"""memory beyond the context window (rolling summaries, pinned facts) and loop redraws

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("loop_redraws", sa.Integer, nullable=False,
                                   server_default="0"))
    op.create_table(
        "memory_summaries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("first_message_id", sa.BigInteger, nullable=False),
        sa.Column("last_message_id", sa.BigInteger, nullable=False),
        sa.Column("turns", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("model_id", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_memory_summaries_channel_id", "memory_summaries", ["channel_id"])
    op.create_table(
        "memory_facts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE")),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_memory_facts_channel_id", "memory_facts", ["channel_id"])
    op.create_index("ix_memory_facts_user_id", "memory_facts", ["user_id"])


def downgrade() -> None:
    for table in ("memory_facts", "memory_summaries"):
        op.drop_table(table)
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("loop_redraws")
