"""api limits: each CRM API's rate limit shared by every replica through the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

Spelled like 0001 to 0005; `tests/bot/store/test_migrations.py` checks it
against the models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_limit",
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("paused_until", sa.Float(), nullable=False),
        sa.Column("live_waiting_until", sa.Float(), nullable=False),
        sa.Column("live_seen_until", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("api", name=op.f("pk_api_limit")),
    )
    op.create_table(
        "api_call",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api", sa.String(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_call")),
    )
    op.create_index("ix_api_call_api_at", "api_call", ["api", "at"])


def downgrade() -> None:
    op.drop_index("ix_api_call_api_at", table_name="api_call")
    op.drop_table("api_call")
    op.drop_table("api_limit")
