"""sample requests: a creator asks a brand for a campaign product sample

Revision ID: 91b21c5b2ce5
Revises: 9a3b30c74a93
Create Date: 2026-11-25 10:38:52.449649

"""
from alembic import op
import sqlalchemy as sa

import connect.core.types  # noqa: F401 - custom column types used by autogenerate


# revision identifiers, used by Alembic.
revision = '91b21c5b2ce5'
down_revision = '9a3b30c74a93'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sample_requests',
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.Enum('requested', 'approved', 'declined', 'shipped', 'delivered', 'fulfilled', 'overdue', 'cancelled', name='samplestatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('shipping_country', sa.String(length=2), nullable=False),
    sa.Column('recipient_name', sa.String(length=120), nullable=True),
    sa.Column('address_line1', sa.String(length=200), nullable=True),
    sa.Column('address_line2', sa.String(length=200), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('postal_code', sa.String(length=20), nullable=True),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address_erased_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decline_reason', sa.String(length=500), server_default='', nullable=False),
    sa.Column('carrier', sa.String(length=80), server_default='', nullable=False),
    sa.Column('tracking_number', sa.String(length=100), server_default='', nullable=False),
    sa.Column('shipped_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('content_due_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('extended', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('reminded_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('fulfilled_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('overdue_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status NOT IN ('delivered', 'fulfilled', 'overdue') OR (delivered_at IS NOT NULL AND content_due_at IS NOT NULL)", name=op.f('ck_sample_requests_delivered_has_deadline')),
    sa.CheckConstraint('address_erased_at IS NULL OR (recipient_name IS NULL AND address_line1 IS NULL AND address_line2 IS NULL AND city IS NULL AND region IS NULL AND postal_code IS NULL AND phone IS NULL)', name=op.f('ck_sample_requests_erased_is_empty')),
    sa.CheckConstraint('length(shipping_country) = 2', name=op.f('ck_sample_requests_country_iso')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_sample_requests_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_sample_requests_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_sample_requests_content_id_content'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_sample_requests_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_sample_requests_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sample_requests'))
    )
    with op.batch_alter_table('sample_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sample_requests_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sample_requests_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index('ix_sample_requests_creator_status', ['creator_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_sample_requests_product_id'), ['product_id'], unique=False)
        batch_op.create_index('ix_sample_requests_status_due', ['status', 'content_due_at'], unique=False)



def downgrade():
    with op.batch_alter_table('sample_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_sample_requests_status_due')
        batch_op.drop_index(batch_op.f('ix_sample_requests_product_id'))
        batch_op.drop_index('ix_sample_requests_creator_status')
        batch_op.drop_index(batch_op.f('ix_sample_requests_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_sample_requests_brand_id'))

    op.drop_table('sample_requests')
