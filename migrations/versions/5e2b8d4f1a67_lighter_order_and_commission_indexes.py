"""orders and commissions: drop the brand index the unique key covers; index paid-out commissions only

Revision ID: 5e2b8d4f1a67
Revises: 7a3c1e9b5d20
Create Date: 2026-11-25 13:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e2b8d4f1a67'
down_revision = '7a3c1e9b5d20'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_brand_id')
    with op.batch_alter_table('commissions', schema=None) as batch_op:
        batch_op.drop_index('ix_commissions_payout_id')
        batch_op.create_index(
            'ix_commissions_payout_id',
            ['payout_id'],
            unique=False,
            postgresql_where=sa.text('payout_id IS NOT NULL'),
            sqlite_where=sa.text('payout_id IS NOT NULL'),
        )


def downgrade():
    with op.batch_alter_table('commissions', schema=None) as batch_op:
        batch_op.drop_index('ix_commissions_payout_id')
        batch_op.create_index('ix_commissions_payout_id', ['payout_id'], unique=False)
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_brand_id', ['brand_id'], unique=False)
