"""Use cases. They take a store (an open transaction) first and never commit."""
