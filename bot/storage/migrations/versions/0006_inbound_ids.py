"""the platform's id of each stored user message, unique per channel (redeliveries)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("platform_message_id", sa.String(64), nullable=True))
    op.create_index("ux_messages_channel_platform_message", "messages",
                    ["channel_id", "platform_message_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_messages_channel_platform_message", "messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("platform_message_id")
