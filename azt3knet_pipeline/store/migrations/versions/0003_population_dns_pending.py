"""population.dns_pending_until: when deSEC said a deferred DNS write may be retried (status `dns_pending`)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("population", sa.Column("dns_pending_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("population") as batch:
        batch.drop_column("dns_pending_until")
