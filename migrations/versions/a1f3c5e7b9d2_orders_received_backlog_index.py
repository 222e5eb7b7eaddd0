"""orders: a partial index of the received backlog for the attribution batch

Revision ID: a1f3c5e7b9d2
Revises: 164b3dd5dac0
Create Date: 2026-11-25 11:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a1f3c5e7b9d2'
down_revision = '164b3dd5dac0'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(
            'ix_orders_received',
            ['id'],
            unique=False,
            postgresql_where=sa.text("status = 'received'"),
            sqlite_where=sa.text("status = 'received'"),
        )


def downgrade():
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_received')
