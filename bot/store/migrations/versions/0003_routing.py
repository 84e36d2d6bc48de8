"""routing: decisions and their Slack posts, round-robin positions, "not a fit" feedback

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Spelled like 0001 and 0002; `tests/bot/store/test_migrations.py` checks it
against the models. Plain CREATE TABLE: all three tables are new.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "routing_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_domain", sa.String(), nullable=False),
        sa.Column("crm", sa.String(), nullable=False),
        sa.Column("crm_id", sa.String(), nullable=True),
        sa.Column("rule_id", sa.String(), nullable=True),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("owner_source", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("tier", sa.String(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("decided_at", MOMENT, nullable=False),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("posted_at", MOMENT, nullable=True),
        sa.Column("summarized", sa.Boolean(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_at", MOMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_decision")),
        sa.UniqueConstraint("account_domain", name=op.f("uq_routing_decision_account_domain")),
    )
    op.create_table(
        "round_robin",
        sa.Column("team", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("last_rep", sa.String(), nullable=True),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("team", name=op.f("pk_round_robin")),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_domain", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("slack_user", sa.String(), nullable=False),
        sa.Column("user_email", sa.String(), nullable=True),
        sa.Column("tier", sa.String(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("icp_version", sa.Integer(), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
    )
    op.create_index("ix_feedback_account_domain", "feedback", ["account_domain"])


def downgrade() -> None:
    op.drop_index("ix_feedback_account_domain", table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("round_robin")
    op.drop_table("routing_decision")
