"""initial schema

Revision ID: 8c6a66233c34
Revises: 
Create Date: 2026-11-25 07:46:59.623254

"""
from alembic import op
import sqlalchemy as sa

import connect.core.types


# revision identifiers, used by Alembic.
revision = '8c6a66233c34'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('brands',
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('slug', sa.String(length=60), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'suspended', name='brandstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('default_rate_bps', sa.Integer(), nullable=False),
    sa.Column('click_param', sa.String(length=40), nullable=False),
    sa.Column('return_window_days', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('website', sa.String(length=255), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('default_rate_bps BETWEEN 0 AND 10000', name=op.f('ck_brands_default_rate_range')),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_brands_currency_iso')),
    sa.CheckConstraint('return_window_days BETWEEN 0 AND 365', name=op.f('ck_brands_return_window_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_brands')),
    sa.UniqueConstraint('slug', name=op.f('uq_brands_slug'))
    )
    op.create_table('fx_rates',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('rate', connect.core.types.ExactDecimal(precision=24, scale=10), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_fx_rates_currency_iso')),
    sa.CheckConstraint('rate > 0', name=op.f('ck_fx_rates_rate_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fx_rates')),
    sa.UniqueConstraint('day', 'currency', name=op.f('uq_fx_rates_day_currency'))
    )
    op.create_table('ledger_accounts',
    sa.Column('kind', sa.Enum('creator_pending', 'creator_held', 'creator_approved', 'creator_in_flight', 'brand_receivable', 'payouts_sent', 'budget_overflow', 'fx_rounding', name='accountkind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('owner_id', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_ledger_accounts_currency_iso')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_accounts')),
    sa.UniqueConstraint('kind', 'owner_id', 'currency', name=op.f('uq_ledger_accounts_kind_owner_id_currency'))
    )
    op.create_table('ledger_journals',
    sa.Column('idempotency_key', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('memo', sa.String(length=255), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_journals')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_ledger_journals_idempotency_key'))
    )
    op.create_table('tiers',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('min_sales_minor', sa.BigInteger(), nullable=False),
    sa.Column('min_earnings_minor', sa.BigInteger(), nullable=False),
    sa.Column('reference_currency', sa.String(length=3), nullable=False),
    sa.Column('min_audience', sa.BigInteger(), nullable=False),
    sa.Column('bonus_bps', sa.Integer(), nullable=False),
    sa.Column('sample_limit', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('bonus_bps BETWEEN 0 AND 5000', name=op.f('ck_tiers_bonus_range')),
    sa.CheckConstraint('length(reference_currency) = 3', name=op.f('ck_tiers_currency_iso')),
    sa.CheckConstraint('min_sales_minor >= 0 AND min_earnings_minor >= 0', name=op.f('ck_tiers_thresholds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tiers')),
    sa.UniqueConstraint('name', name=op.f('uq_tiers_name')),
    sa.UniqueConstraint('rank', name=op.f('uq_tiers_rank'))
    )
    op.create_table('users',
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.Enum('creator', 'brand', 'finance', 'admin', name='role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('locale', sa.String(length=10), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('last_login_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('audit_events',
    sa.Column('actor_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=False),
    sa.Column('target_id', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_audit_events_actor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index('ix_audit_events_target', ['target_type', 'target_id'], unique=False)

    op.create_table('brand_domains',
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('verified_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_brand_domains_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_brand_domains')),
    sa.UniqueConstraint('domain', name=op.f('uq_brand_domains_domain'))
    )
    with op.batch_alter_table('brand_domains', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_brand_domains_brand_id'), ['brand_id'], unique=False)

    op.create_table('brand_members',
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('role', sa.Enum('owner', 'manager', 'viewer', name='brandrole', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_brand_members_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_brand_members_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_brand_members')),
    sa.UniqueConstraint('brand_id', 'user_id', name=op.f('uq_brand_members_brand_id_user_id'))
    )
    with op.batch_alter_table('brand_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_brand_members_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_brand_members_user_id'), ['user_id'], unique=False)

    op.create_table('campaigns',
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('brief', sa.Text(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('countries', sa.JSON(), nullable=False),
    sa.Column('min_tier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('visibility', sa.Enum('open', 'invite', name='visibility', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('draft', 'active', 'paused', 'ended', name='campaignstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('default_rate_bps', sa.Integer(), nullable=False),
    sa.Column('tier_bonus', sa.Boolean(), nullable=False),
    sa.Column('budget_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('attribution_window_days', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('attribution_window_days BETWEEN 1 AND 365', name=op.f('ck_campaigns_window_range')),
    sa.CheckConstraint('budget_minor IS NULL OR budget_minor > 0', name=op.f('ck_campaigns_budget_positive')),
    sa.CheckConstraint('default_rate_bps BETWEEN 0 AND 10000', name=op.f('ck_campaigns_rate_range')),
    sa.CheckConstraint('ends_on IS NULL OR ends_on >= starts_on', name=op.f('ck_campaigns_dates_ordered')),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_campaigns_currency_iso')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_campaigns_brand_id_brands'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['min_tier_id'], ['tiers.id'], name=op.f('fk_campaigns_min_tier_id_tiers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_brand_id'), ['brand_id'], unique=False)

    op.create_table('creators',
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('display_name', sa.String(length=80), nullable=False),
    sa.Column('handle', sa.String(length=40), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('payout_currency', sa.String(length=3), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'suspended', name='creatorstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('tier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('audience_size', sa.BigInteger(), nullable=False),
    sa.Column('bio', sa.String(length=1000), nullable=False),
    sa.Column('public_leaderboard', sa.Boolean(), nullable=False),
    sa.Column('approved_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('length(country) = 2', name=op.f('ck_creators_country_iso')),
    sa.CheckConstraint('length(payout_currency) = 3', name=op.f('ck_creators_payout_currency_iso')),
    sa.ForeignKeyConstraint(['tier_id'], ['tiers.id'], name=op.f('fk_creators_tier_id_tiers')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_creators_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_creators')),
    sa.UniqueConstraint('handle', name=op.f('uq_creators_handle')),
    sa.UniqueConstraint('user_id', name=op.f('uq_creators_user_id'))
    )
    op.create_table('ledger_entries',
    sa.Column('journal_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('amount_minor <> 0', name=op.f('ck_ledger_entries_amount_non_zero')),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_ledger_entries_currency_iso')),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_entries_account_id_ledger_accounts')),
    sa.ForeignKeyConstraint(['journal_id'], ['ledger_journals.id'], name=op.f('fk_ledger_entries_journal_id_ledger_journals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_account', ['account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_journal_id'), ['journal_id'], unique=False)

    op.create_table('payout_batches',
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('status', sa.Enum('building', 'review', 'approved', 'executing', 'done', 'cancelled', name='batchstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('created_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('approved_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('approved_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('approved_by_id IS NULL OR approved_by_id <> created_by_id', name=op.f('ck_payout_batches_four_eyes')),
    sa.CheckConstraint('period_end >= period_start', name=op.f('ck_payout_batches_period_ordered')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_payout_batches_approved_by_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_payout_batches_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_batches'))
    )
    op.create_table('products',
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('price_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('image_url', sa.String(length=2048), nullable=False),
    sa.Column('countries', sa.JSON(), nullable=False),
    sa.Column('status', sa.Enum('active', 'archived', name='productstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_products_currency_iso')),
    sa.CheckConstraint('price_minor >= 0', name=op.f('ck_products_price_non_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_products_brand_id_brands'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('brand_id', 'sku', name=op.f('uq_products_brand_id_sku'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_category'), ['category'], unique=False)

    op.create_table('campaign_members',
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.Enum('invited', 'applied', 'approved', 'rejected', 'removed', name='memberstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('decided_at', connect.core.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_members_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_campaign_members_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_members')),
    sa.UniqueConstraint('campaign_id', 'creator_id', name=op.f('uq_campaign_members_campaign_id_creator_id'))
    )
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_members_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_members_creator_id'), ['creator_id'], unique=False)

    op.create_table('campaign_products',
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_products_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_campaign_products_product_id_products'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_products')),
    sa.UniqueConstraint('campaign_id', 'product_id', name=op.f('uq_campaign_products_campaign_id_product_id'))
    )
    with op.batch_alter_table('campaign_products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_products_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_campaign_products_product_id'), ['product_id'], unique=False)

    op.create_table('campaign_rates',
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('category', sa.String(length=80), nullable=True),
    sa.Column('rate_bps', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('(product_id IS NULL) <> (category IS NULL)', name=op.f('ck_campaign_rates_product_xor_category')),
    sa.CheckConstraint('rate_bps BETWEEN 0 AND 10000', name=op.f('ck_campaign_rates_rate_range')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_rates_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_campaign_rates_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_rates')),
    sa.UniqueConstraint('campaign_id', 'category', name=op.f('uq_campaign_rates_campaign_id_category')),
    sa.UniqueConstraint('campaign_id', 'product_id', name=op.f('uq_campaign_rates_campaign_id_product_id'))
    )
    with op.batch_alter_table('campaign_rates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_rates_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('content',
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.Enum('video', 'post', 'review', 'live', name='contentkind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('countries', sa.JSON(), nullable=False),
    sa.Column('external_url', sa.String(length=2048), nullable=False),
    sa.Column('media_key', sa.String(length=512), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('media_bytes', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'submitted', 'published', 'flagged', 'rejected', name='contentstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('moderation_note', sa.String(length=500), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_content_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_content_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content'))
    )
    with op.batch_alter_table('content', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_creator_id'), ['creator_id'], unique=False)

    op.create_table('payout_methods',
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rail', sa.Enum('stripe', 'sepa', 'paypal', 'csv', name='rail', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('stripe_account_id', sa.String(length=64), nullable=False),
    sa.Column('payouts_enabled', sa.Boolean(), nullable=False),
    sa.Column('iban', sa.String(length=34), nullable=False),
    sa.Column('bic', sa.String(length=11), nullable=False),
    sa.Column('account_holder', sa.String(length=140), nullable=False),
    sa.Column('paypal_email', sa.String(length=254), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_payout_methods_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout_methods')),
    sa.UniqueConstraint('creator_id', name=op.f('uq_payout_methods_creator_id'))
    )
    op.create_table('payouts',
    sa.Column('batch_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('rail', sa.Enum('stripe', 'sepa', 'paypal', 'csv', name='rail', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('planned', 'sending', 'sent', 'paid', 'failed', name='payoutstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('provider_ref', sa.String(length=64), nullable=False),
    sa.Column('failure_reason', sa.String(length=255), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_payouts_amount_positive')),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_payouts_currency_iso')),
    sa.ForeignKeyConstraint(['batch_id'], ['payout_batches.id'], name=op.f('fk_payouts_batch_id_payout_batches')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_payouts_creator_id_creators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payouts')),
    sa.UniqueConstraint('batch_id', 'creator_id', 'currency', name=op.f('uq_payouts_batch_id_creator_id_currency')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_payouts_idempotency_key'))
    )
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payouts_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payouts_creator_id'), ['creator_id'], unique=False)

    op.create_table('social_accounts',
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('platform', sa.Enum('instagram', 'tiktok', 'youtube', 'vk', 'telegram', 'facebook', 'x', 'twitch', name='socialplatform', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('handle', sa.String(length=100), nullable=False),
    sa.Column('followers', sa.BigInteger(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('followers >= 0', name=op.f('ck_social_accounts_followers_non_negative')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_social_accounts_creator_id_creators'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_social_accounts')),
    sa.UniqueConstraint('creator_id', 'platform', 'handle', name=op.f('uq_social_accounts_creator_id_platform_handle'))
    )
    with op.batch_alter_table('social_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_social_accounts_creator_id'), ['creator_id'], unique=False)

    op.create_table('tier_history',
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('from_tier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('to_tier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('changed_at', connect.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_tier_history_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['from_tier_id'], ['tiers.id'], name=op.f('fk_tier_history_from_tier_id_tiers')),
    sa.ForeignKeyConstraint(['to_tier_id'], ['tiers.id'], name=op.f('fk_tier_history_to_tier_id_tiers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tier_history'))
    )
    with op.batch_alter_table('tier_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tier_history_creator_id'), ['creator_id'], unique=False)

    op.create_table('content_products',
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_content_products_content_id_content'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_content_products_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_products')),
    sa.UniqueConstraint('content_id', 'product_id', name=op.f('uq_content_products_content_id_product_id'))
    )
    with op.batch_alter_table('content_products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_content_products_content_id'), ['content_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_content_products_product_id'), ['product_id'], unique=False)

    op.create_table('links',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('content_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('destination_url', sa.String(length=2048), nullable=False),
    sa.Column('status', sa.Enum('active', 'disabled', name='linkstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_links_brand_id_brands')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_links_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['content_id'], ['content.id'], name=op.f('fk_links_content_id_content')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_links_creator_id_creators'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_links_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_links')),
    sa.UniqueConstraint('code', name=op.f('uq_links_code'))
    )
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_links_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_content_id'), ['content_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_creator_id'), ['creator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_links_product_id'), ['product_id'], unique=False)

    op.create_table('clicks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('click_id', sa.String(length=32), nullable=False),
    sa.Column('link_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('clicked_at', connect.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('visitor_id', sa.String(length=32), nullable=False),
    sa.Column('ip_hash', sa.String(length=64), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('user_agent', sa.String(length=512), nullable=False),
    sa.Column('referrer_host', sa.String(length=253), nullable=False),
    sa.Column('is_bot', sa.Boolean(), nullable=False),
    sa.Column('is_duplicate', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_clicks_link_id_links'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clicks')),
    sa.UniqueConstraint('click_id', name=op.f('uq_clicks_click_id'))
    )
    with op.batch_alter_table('clicks', schema=None) as batch_op:
        batch_op.create_index('ix_clicks_link_time', ['link_id', 'clicked_at'], unique=False)
        batch_op.create_index('ix_clicks_visitor_time', ['visitor_id', 'clicked_at'], unique=False)

    op.create_table('orders',
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=False),
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('ordered_at', connect.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('customer_country', sa.String(length=2), nullable=False),
    sa.Column('customer_email_hash', sa.String(length=64), nullable=False),
    sa.Column('click_id', sa.String(length=32), nullable=False),
    sa.Column('visitor_id', sa.String(length=32), nullable=False),
    sa.Column('promo_code', sa.String(length=40), nullable=False),
    sa.Column('status', sa.Enum('received', 'attributed', 'unattributed', name='orderstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('attributed_click_id', sa.String(length=32), nullable=True),
    sa.Column('link_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('length(currency) = 3', name=op.f('ck_orders_currency_iso')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_orders_brand_id_brands')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_orders_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_orders_creator_id_creators')),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], name=op.f('fk_orders_link_id_links')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('brand_id', 'external_id', name=op.f('uq_orders_brand_id_external_id'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_creator_id'), ['creator_id'], unique=False)

    op.create_table('order_lines',
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('product_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('category', sa.String(length=80), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_minor', sa.BigInteger(), nullable=False),
    sa.Column('refunded_quantity', sa.Integer(), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_order_lines_quantity_positive')),
    sa.CheckConstraint('refunded_quantity >= 0 AND refunded_quantity <= quantity', name=op.f('ck_order_lines_refund_bounds')),
    sa.CheckConstraint('unit_price_minor >= 0', name=op.f('ck_order_lines_price_non_negative')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_lines_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_order_lines_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_lines')),
    sa.UniqueConstraint('order_id', 'line_no', name=op.f('uq_order_lines_order_id_line_no'))
    )
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_lines_order_id'), ['order_id'], unique=False)

    op.create_table('commissions',
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('creator_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('campaign_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('rate_bps', sa.Integer(), nullable=False),
    sa.Column('base_minor', sa.BigInteger(), nullable=False),
    sa.Column('base_currency', sa.String(length=3), nullable=False),
    sa.Column('fx_rate', connect.core.types.ExactDecimal(precision=24, scale=10), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('capped_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'held', 'approved', 'paid', 'reversed', 'rejected', name='commissionstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('hold_reason', sa.String(length=200), nullable=False),
    sa.Column('approve_after', connect.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payout_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('updated_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('amount_minor >= 0 AND capped_minor >= 0', name=op.f('ck_commissions_amounts_non_negative')),
    sa.CheckConstraint('length(currency) = 3 AND length(base_currency) = 3', name=op.f('ck_commissions_currency_iso')),
    sa.CheckConstraint('rate_bps >= 0', name=op.f('ck_commissions_rate_non_negative')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_commissions_brand_id_brands')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_commissions_campaign_id_campaigns')),
    sa.ForeignKeyConstraint(['creator_id'], ['creators.id'], name=op.f('fk_commissions_creator_id_creators')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_commissions_order_id_orders')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_commissions_order_line_id_order_lines')),
    sa.ForeignKeyConstraint(['payout_id'], ['payouts.id'], name=op.f('fk_commissions_payout_id_payouts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commissions')),
    sa.UniqueConstraint('order_line_id', name=op.f('uq_commissions_order_line_id'))
    )
    with op.batch_alter_table('commissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commissions_approve_after'), ['approve_after'], unique=False)
        batch_op.create_index(batch_op.f('ix_commissions_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_commissions_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_commissions_creator_id'), ['creator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_commissions_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_commissions_payout_id'), ['payout_id'], unique=False)

    op.create_table('refunds',
    sa.Column('brand_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_line_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('refunded_at', connect.core.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', connect.core.types.UTCDateTime(timezone=True), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_refunds_quantity_positive')),
    sa.ForeignKeyConstraint(['brand_id'], ['brands.id'], name=op.f('fk_refunds_brand_id_brands')),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_refunds_order_id_orders')),
    sa.ForeignKeyConstraint(['order_line_id'], ['order_lines.id'], name=op.f('fk_refunds_order_line_id_order_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refunds')),
    sa.UniqueConstraint('brand_id', 'idempotency_key', name=op.f('uq_refunds_brand_id_idempotency_key'))
    )
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refunds_brand_id'), ['brand_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refunds_order_line_id'), ['order_line_id'], unique=False)

    # The ledger is append-only at the database too: no role can UPDATE or DELETE its rows.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION 'ledger rows are append-only (% on %)', TG_OP, TG_TABLE_NAME;
            END $$;
            """
        )
        for table in ("ledger_entries", "ledger_journals"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in ("ledger_entries", "ledger_journals"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refunds_order_line_id'))
        batch_op.drop_index(batch_op.f('ix_refunds_order_id'))
        batch_op.drop_index(batch_op.f('ix_refunds_brand_id'))

    op.drop_table('refunds')
    with op.batch_alter_table('commissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commissions_payout_id'))
        batch_op.drop_index(batch_op.f('ix_commissions_order_id'))
        batch_op.drop_index(batch_op.f('ix_commissions_creator_id'))
        batch_op.drop_index(batch_op.f('ix_commissions_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_commissions_brand_id'))
        batch_op.drop_index(batch_op.f('ix_commissions_approve_after'))

    op.drop_table('commissions')
    with op.batch_alter_table('order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_lines_order_id'))

    op.drop_table('order_lines')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_creator_id'))
        batch_op.drop_index(batch_op.f('ix_orders_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_orders_brand_id'))

    op.drop_table('orders')
    with op.batch_alter_table('clicks', schema=None) as batch_op:
        batch_op.drop_index('ix_clicks_visitor_time')
        batch_op.drop_index('ix_clicks_link_time')

    op.drop_table('clicks')
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_links_product_id'))
        batch_op.drop_index(batch_op.f('ix_links_creator_id'))
        batch_op.drop_index(batch_op.f('ix_links_content_id'))
        batch_op.drop_index(batch_op.f('ix_links_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_links_brand_id'))

    op.drop_table('links')
    with op.batch_alter_table('content_products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_products_product_id'))
        batch_op.drop_index(batch_op.f('ix_content_products_content_id'))

    op.drop_table('content_products')
    with op.batch_alter_table('tier_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tier_history_creator_id'))

    op.drop_table('tier_history')
    with op.batch_alter_table('social_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_social_accounts_creator_id'))

    op.drop_table('social_accounts')
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payouts_creator_id'))
        batch_op.drop_index(batch_op.f('ix_payouts_batch_id'))

    op.drop_table('payouts')
    op.drop_table('payout_methods')
    with op.batch_alter_table('content', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_content_creator_id'))
        batch_op.drop_index(batch_op.f('ix_content_campaign_id'))

    op.drop_table('content')
    with op.batch_alter_table('campaign_rates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_rates_campaign_id'))

    op.drop_table('campaign_rates')
    with op.batch_alter_table('campaign_products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_products_product_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_products_campaign_id'))

    op.drop_table('campaign_products')
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_members_creator_id'))
        batch_op.drop_index(batch_op.f('ix_campaign_members_campaign_id'))

    op.drop_table('campaign_members')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_category'))
        batch_op.drop_index(batch_op.f('ix_products_brand_id'))

    op.drop_table('products')
    op.drop_table('payout_batches')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_journal_id'))
        batch_op.drop_index('ix_ledger_entries_account')

    op.drop_table('ledger_entries')
    op.drop_table('creators')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_brand_id'))

    op.drop_table('campaigns')
    with op.batch_alter_table('brand_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_brand_members_user_id'))
        batch_op.drop_index(batch_op.f('ix_brand_members_brand_id'))

    op.drop_table('brand_members')
    with op.batch_alter_table('brand_domains', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_brand_domains_brand_id'))

    op.drop_table('brand_domains')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_target')
        batch_op.drop_index(batch_op.f('ix_audit_events_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
    op.drop_table('users')
    op.drop_table('tiers')
    op.drop_table('ledger_journals')
    op.drop_table('ledger_accounts')
    op.drop_table('fx_rates')
    op.drop_table('brands')
