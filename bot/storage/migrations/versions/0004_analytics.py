"""imported message ids, setting changes, community report schedule

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("external_id", sa.String(64)))
        batch.create_index("ux_messages_channel_external", ["channel_id", "external_id"],
                           unique=True)
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("report_channel", sa.String(64)))
        batch.add_column(sa.Column("report_weekday", sa.String(3), nullable=False,
                                   server_default="mon"))
        batch.add_column(sa.Column("report_hour", sa.Integer, nullable=False,
                                   server_default="9"))
        batch.add_column(sa.Column("report_timezone", sa.String(64), nullable=False,
                                   server_default="UTC"))
    op.create_table(
        "setting_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("setting", sa.String(16), nullable=False),
        sa.Column("value", sa.String(100)),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_setting_changes_channel_id", "setting_changes", ["channel_id"])


def downgrade() -> None:
    op.drop_table("setting_changes")
    with op.batch_alter_table("communities") as batch:
        for column in ("report_timezone", "report_hour", "report_weekday", "report_channel"):
            batch.drop_column(column)
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ux_messages_channel_external")
        batch.drop_column("external_id")
