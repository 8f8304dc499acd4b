"""chengyun (城运): city-operations grid management for a Shanghai sub-district (一网统管)."""

__version__ = "0.1.0"
