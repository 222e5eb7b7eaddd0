"""tier settings (reference currency, demotion grace) and retired tiers

Revision ID: 7a3c1e9b5d20
Revises: a1f3c5e7b9d2
Create Date: 2026-11-25 10:50:00

"""
from alembic import op
import sqlalchemy as sa

import connect.core.types  # noqa: F401 - custom column types used by autogenerate


# revision identifiers, used by Alembic.
revision = '7a3c1e9b5d20'
down_revision = 'a1f3c5e7b9d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('tier_settings',
    sa.Column('reference_currency', sa.String(length=3), nullable=False),
    sa.Column('demotion_grace_days', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('demotion_grace_days BETWEEN 0 AND 365', name=op.f('ck_tier_settings_grace_range')),
    sa.CheckConstraint('length(reference_currency) = 3', name=op.f('ck_tier_settings_currency_iso')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_settings'))
    )
    with op.batch_alter_table('tiers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', connect.core.types.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('tiers', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
    op.drop_table('tier_settings')
