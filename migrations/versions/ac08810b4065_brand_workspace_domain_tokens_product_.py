"""brand workspace: domain verification tokens, product imports, catalogue index

Revision ID: ac08810b4065
Revises: 869592b187dd
Create Date: 2026-11-25 08:57:56.412018

"""
import secrets

from alembic import op
import sqlalchemy as sa

import connect.core.types  # noqa: F401 - custom column types used by autogenerate


# revision identifiers, used by Alembic.
revision = 'ac08810b4065'
down_revision = '869592b187dd'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('product_imports',
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('total_rows', sa.Integer(), nullable=False),
    sa.Column('created_rows', sa.Integer(), nullable=False),
    sa.Column('updated_rows', sa.Integer(), nullable=False),
    sa.Column('unchanged_rows', sa.Integer(), nullable=False),
    sa.Column('failed_rows', sa.Integer(), nullable=False),
    sa.Column('error_report_key', sa.String(length=200), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('total_rows >= 0 AND created_rows >= 0 AND updated_rows >= 0 AND unchanged_rows >= 0 AND failed_rows >= 0 AND duration_ms >= 0', name=op.f('ck_product_imports_counts_non_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_product_imports_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_product_imports_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_imports'))
    )
    with op.batch_alter_table('product_imports', schema=None) as batch_op:
        batch_op.create_index('ix_product_imports_brand_created', ['brand_id', 'created_at'], unique=False)

    with op.batch_alter_table('brand_domains', schema=None) as batch_op:
        batch_op.add_column(sa.Column('verification_token', sa.String(length=64), server_default='', nullable=False))

    # Domains still pending get a token to publish; verified ones keep "" (nothing to prove).
    conn = op.get_bind()
    domains = sa.table('brand_domains', sa.column('id'), sa.column('verified_at'), sa.column('verification_token'))
    pending = conn.execute(sa.select(domains.c.id).where(domains.c.verified_at.is_(None))).scalars().all()
    for domain_id in pending:
        conn.execute(
            domains.update().where(domains.c.id == domain_id).values(verification_token=secrets.token_hex(16))
        )

    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index('ix_products_brand_title', ['brand_id', 'title'], unique=False)


def downgrade():
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index('ix_products_brand_title')

    with op.batch_alter_table('brand_domains', schema=None) as batch_op:
        batch_op.drop_column('verification_token')

    with op.batch_alter_table('product_imports', schema=None) as batch_op:
        batch_op.drop_index('ix_product_imports_brand_created')

    op.drop_table('product_imports')
