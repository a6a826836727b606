"""SQLAlchemy persistence: models, the engine, and the stores that implement the ports."""
