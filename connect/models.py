"""Imports every domain's models so the metadata is complete (Alembic, create_all)."""

# ruff: noqa: F401 - importing is the point: each import registers its tables.
from connect.accounts.models import ApiToken, User
from connect.audit.models import AuditEvent
from connect.bounties.models import Task, TaskAssignment
from connect.brands.models import (
    Brand,
    BrandApiKey,
    BrandDomain,
    BrandMember,
    Product,
    ProductImport,
)
from connect.campaigns.models import Campaign, CampaignMember, CampaignProduct, CampaignRate
from connect.content.models import Content, ContentProduct, ModerationFlag
from connect.conversions.import_models import ImportJob
from connect.conversions.models import Commission, Order, OrderLine, Refund, RefundLine
from connect.creators.models import Creator, CreatorVisitor, SocialAccount
from connect.fx.models import FxRate
from connect.ledger.export_models import LedgerExport
from connect.ledger.models import Journal, LedgerAccount, LedgerEntry
from connect.notifications.models import Notification
from connect.payouts.models import Payout, PayoutBatch, PayoutFile, PayoutMethod, StripeEvent
from connect.promos.models import PromoCode, PromoSettings
from connect.samples.models import SampleRequest
from connect.tiers.models import Tier, TierHistory, TierSettings
from connect.tracking.models import Click, Link
from connect.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
