"""population_dns: the desired rrsets last written for each population (read by the drift sensor)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "population_dns",
        sa.Column("population_key", sa.String(63), sa.ForeignKey("population.key"), primary_key=True),
        sa.Column("zone", sa.String(255), nullable=False),
        sa.Column("desired_json", sa.Text, nullable=False),
        sa.Column("desired_hash", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("population_dns")
