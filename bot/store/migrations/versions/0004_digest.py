"""digest: which week's digest went to which channel

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Spelled like 0001 to 0003; `tests/bot/store/test_migrations.py` checks it
against the models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "digest_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("week", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=False),
        sa.Column("claimed_at", MOMENT, nullable=False),
        sa.Column("channel_id", sa.String(), nullable=True),
        sa.Column("message_ts", sa.String(), nullable=True),
        sa.Column("posted_at", MOMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digest_post")),
        sa.UniqueConstraint("channel", "week", name=op.f("uq_digest_post_channel_week")),
    )


def downgrade() -> None:
    op.drop_table("digest_post")
