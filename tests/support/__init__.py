"""Test support code: real-service bootstrap (services.py) and a Stripe test server."""
