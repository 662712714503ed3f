"""safety: access rules, moderation rules, per-community safety settings, token usage

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _community() -> sa.Column:
    return sa.Column("community_id", sa.Integer,
                     sa.ForeignKey("communities.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "access_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        _community(),
        sa.Column("channel_id", sa.Integer, sa.ForeignKey("channels.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("effect", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("community_id", "channel_id", "effect", "kind", "subject"),
    )
    op.create_index("ix_access_rules_community_id", "access_rules", ["community_id"])
    op.create_table(
        "moderation_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        _community(),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("pattern", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_moderation_rules_community_id", "moderation_rules", ["community_id"])
    op.create_table(
        "safety_settings",
        sa.Column("community_id", sa.Integer,
                  sa.ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("modlog_channel", sa.String(64), nullable=True),
        sa.Column("modlog_text", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("user_tokens", sa.Integer, nullable=True),
        sa.Column("community_tokens", sa.Integer, nullable=True),
        sa.Column("role_tokens", sa.JSON, nullable=True),
    )
    op.create_table(
        "token_usage",
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("community_id", sa.Integer,
                  sa.ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cost", sa.Float, nullable=False, server_default="0"),
    )
    op.create_index("ix_token_usage_day_model", "token_usage", ["day", "model_id"])


def downgrade() -> None:
    op.drop_index("ix_token_usage_day_model", "token_usage")
    op.drop_table("token_usage")
    op.drop_table("safety_settings")
    op.drop_index("ix_moderation_rules_community_id", "moderation_rules")
    op.drop_table("moderation_rules")
    op.drop_index("ix_access_rules_community_id", "access_rules")
    op.drop_table("access_rules")
