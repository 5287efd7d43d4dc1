"""Alembic migrations of narrate's cache database, applied when the cache opens."""
