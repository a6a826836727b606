"""The seeds' own wire formats: translate, then call the same services as tender's routes."""
