"""Pieces shared by every domain: time, money, identifiers, access policy, errors."""
