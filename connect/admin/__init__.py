"""Admin portal: approvals, moderation, audit log."""
