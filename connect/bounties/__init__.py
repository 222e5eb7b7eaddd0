"""Paid content tasks ("bounties"): a brand pays a fixed fee for one approved content piece."""
