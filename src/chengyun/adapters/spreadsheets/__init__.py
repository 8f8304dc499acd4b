"""Spreadsheets (.xlsx) that offices exchange: the day and night force tables, and more."""
