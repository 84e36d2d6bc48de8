"""inbox: webhook events stored before they are answered; sync checkpoints

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Spelled like 0001 (the same JSON variant and timestamp type, constraint
names from the naming convention); `tests/bot/store/test_migrations.py` checks it
against the models. Plain CREATE TABLE, no batch mode: both tables are new.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=False),
        sa.Column("object_type", sa.String(), nullable=False),
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("received_at", MOMENT, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", MOMENT, nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_until", MOMENT, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", MOMENT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_event")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_inbox_event_dedupe_key")),
    )
    op.create_index("ix_inbox_event_status_available_at", "inbox_event", ["status", "available_at"])
    op.create_table(
        "checkpoint",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_checkpoint")),
    )


def downgrade() -> None:
    op.drop_table("checkpoint")
    op.drop_index("ix_inbox_event_status_available_at", table_name="inbox_event")
    op.drop_table("inbox_event")
