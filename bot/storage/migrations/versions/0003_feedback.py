"""channel answer-all and disclose flags, regenerated replies, feedback, deliveries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(
            sa.Column("answer_all", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("disclose", sa.Boolean, nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("replaced_by_id", sa.BigInteger))
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "message_id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model_id", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("message_id", "user_id", "kind"),
    )
    op.create_index("ix_feedback_message_id", "feedback", ["message_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "message_id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            sa.ForeignKey("messages.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("platform_message_id", sa.String(64), nullable=False),
        sa.Column("part", sa.Integer, nullable=False),
        sa.UniqueConstraint("platform", "platform_message_id"),
    )
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("feedback")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("replaced_by_id")
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("disclose")
        batch.drop_column("answer_all")
