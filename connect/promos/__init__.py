"""Promo codes: a creator's code per campaign, brand-issued or creator-chosen."""
