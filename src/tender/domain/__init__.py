"""Pure business rules: no web framework, no database, no network."""
