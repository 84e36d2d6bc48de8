"""slack events: the Events API deliveries already handled, so a retry is handled once

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Spelled like 0001 to 0004; `tests/bot/store/test_migrations.py` checks it
against the models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "slack_event",
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("received_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_slack_event")),
    )
    op.create_index(op.f("ix_slack_event_received_at"), "slack_event", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_event_received_at"), table_name="slack_event")
    op.drop_table("slack_event")
