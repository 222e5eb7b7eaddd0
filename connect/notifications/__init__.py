"""In-portal notifications: what the platform tells a user (tier changes, campaign news)."""
