"""learned mode: each community's discounted evidence per blend member

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "learned_arms",
        sa.Column("community_id", sa.Integer,
                  sa.ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column("wins", sa.Float, nullable=False, server_default="0"),
        sa.Column("losses", sa.Float, nullable=False, server_default="0"),
        sa.Column("step", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("learned_arms")
