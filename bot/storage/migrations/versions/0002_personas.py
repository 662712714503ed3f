"""personas, lorebooks, channel lorebook and reset marker

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from bot.storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.String(32), nullable=False),
        sa.Column("card", sa.JSON, nullable=False),
        sa.Column("avatar", sa.LargeBinary),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_personas_name", "personas", ["name"])
    op.create_table(
        "lorebooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("book", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_lorebooks_name", "lorebooks", ["name"])
    with op.batch_alter_table("channels") as batch:
        batch.add_column(sa.Column("lorebook_id", sa.Integer))
        batch.add_column(sa.Column("reset_after_id", sa.BigInteger))
        batch.create_foreign_key(
            "fk_channels_lorebook_id", "lorebooks", ["lorebook_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.drop_constraint("fk_channels_lorebook_id", type_="foreignkey")
        batch.drop_column("reset_after_id")
        batch.drop_column("lorebook_id")
    op.drop_table("lorebooks")
    op.drop_table("personas")
