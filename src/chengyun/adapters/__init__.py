"""Adapters: the database, geometry, spreadsheets and the outside systems."""
