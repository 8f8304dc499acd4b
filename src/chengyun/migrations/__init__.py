"""Alembic migrations: the only way the schema is built, by the app and by the tests."""
