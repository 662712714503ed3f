"""analytics rollups: per user-day, per reply-day and per channel-day, with their state

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _community() -> sa.Column:
    return sa.Column("community_id", sa.Integer,
                     sa.ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)


def _counts(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.Integer, nullable=False, server_default="0") for n in names]


def upgrade() -> None:
    op.create_table(
        "rollup_user_days", _community(),
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(120), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        *_counts("messages", "sessions"),
        sa.Column("minutes", sa.Float, nullable=False, server_default="0"),
    )
    op.create_table(
        "rollup_reply_days", _community(),
        sa.Column("channel_id", sa.Integer, primary_key=True),
        sa.Column("mode", sa.String(100), primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        *_counts("replies", "judged", "continued", "late_judged", "late_continued",
                 "thumbs_up", "thumbs_down", "regenerated"),
    )
    op.create_table(
        "rollup_channel_days", _community(),
        sa.Column("channel_id", sa.Integer, primary_key=True),
        sa.Column("mode", sa.String(100), primary_key=True),
        sa.Column("day", sa.Integer, primary_key=True),
        *_counts("messages"),
    )
    op.create_table(
        "rollup_state", _community(),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        *[sa.Column(n, sa.BigInteger, nullable=False, server_default="0")
          for n in ("message_id", "feedback_id", "setting_id")],
    )
    op.create_table(
        "rollup_dirty",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("community_id", sa.Integer,
                  sa.ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel_id", sa.Integer),
        sa.Column("user_id", sa.Integer),
    )
    op.create_index("ix_rollup_dirty_community_id", "rollup_dirty", ["community_id"])
    # reading a user's or a channel's messages in time order, for rebuilding their rollups
    op.create_index("ix_messages_user_created", "messages", ["user_id", "created_at"])
    op.create_index("ix_messages_channel_created", "messages", ["channel_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_messages_channel_created", "messages")
    op.drop_index("ix_messages_user_created", "messages")
    op.drop_index("ix_rollup_dirty_community_id", "rollup_dirty")
    for table in ("rollup_dirty", "rollup_state", "rollup_channel_days", "rollup_reply_days",
                  "rollup_user_days"):
        op.drop_table(table)
