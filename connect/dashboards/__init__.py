"""Dashboards: the creator's, the brand's per campaign, and finance's (liabilities, holds,
tiers)."""
