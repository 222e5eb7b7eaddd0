"""campaigns: join mode (approval_required), ended_at; campaign members: application note

Revision ID: 869592b187dd
Revises: d41f2a7c9e10
Create Date: 2026-11-25 08:52:49.017864

"""
from alembic import op
import sqlalchemy as sa

import connect.core.types  # noqa: F401 - custom column types used by autogenerate


# revision identifiers, used by Alembic.
revision = '869592b187dd'
down_revision = 'd41f2a7c9e10'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.String(length=500), server_default='', nullable=False))

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        # A plain string default, not sa.false(): an expression default makes Alembic rebuild the
        # SQLite table, and dropping `campaigns` with foreign keys on would cascade-delete its
        # members, rates and products. '0' is FALSE on PostgreSQL and 0 on SQLite.
        batch_op.add_column(sa.Column('approval_required', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('ended_at', connect.core.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), not a batch rebuild: rebuilding
    # `campaigns` with foreign keys on would cascade-delete its members, rates and products.
    op.drop_column('campaigns', 'ended_at')
    op.drop_column('campaigns', 'approval_required')
    op.drop_column('campaign_members', 'note')
