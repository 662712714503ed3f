"""privacy: a community's NSFW opt-in (Telegram) and when the bot left it (grace period)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.add_column(sa.Column("allow_nsfw", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("communities") as batch:
        batch.drop_column("left_at")
        batch.drop_column("allow_nsfw")
