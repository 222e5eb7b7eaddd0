"""webhook signing secrets sealed at rest (encrypted under DATA_KEYS)

Revision ID: b7d1e5a9c3f2
Revises: 5e2b8d4f1a67
Create Date: 2026-11-25 14:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d1e5a9c3f2'
down_revision = '5e2b8d4f1a67'
branch_labels = None
depends_on = None

endpoints = sa.table(
    'webhook_endpoints',
    sa.column('id', sa.BigInteger),
    sa.column('secret', sa.String),
    sa.column('previous_secret', sa.String),
)


def _rewrite(convert):
    # Runs inside the app (flask db upgrade): DATA_KEYS come from its configuration.
    conn = op.get_bind()
    for row_id, secret, previous in conn.execute(
        sa.select(endpoints.c.id, endpoints.c.secret, endpoints.c.previous_secret)
    ).all():
        conn.execute(
            endpoints.update()
            .where(endpoints.c.id == row_id)
            .values(secret=convert(secret or ''), previous_secret=convert(previous or ''))
        )


def upgrade():
    from connect.core.security import seal

    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sa.String(length=100), type_=sa.String(length=255))
        batch_op.alter_column(
            'previous_secret', existing_type=sa.String(length=100), type_=sa.String(length=255)
        )
    _rewrite(seal)


def downgrade():
    from connect.core.security import unseal

    _rewrite(unseal)
    with op.batch_alter_table('webhook_endpoints', schema=None) as batch_op:
        batch_op.alter_column('previous_secret', existing_type=sa.String(length=255), type_=sa.String(length=100))
        batch_op.alter_column('secret', existing_type=sa.String(length=255), type_=sa.String(length=100))
