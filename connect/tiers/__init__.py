"""KOL tiers: the ladder an admin configures, the scheduled recompute that moves creators along
it (`services.recompute_tiers`, run by `workers.jobs.recompute_tiers`), and the public
leaderboard creators opt in to."""
