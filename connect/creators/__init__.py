"""Creators: profiles, sign-up, approval and the creator's portal home."""
