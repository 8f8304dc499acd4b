"""Reference data shipped with the platform: the case taxonomy (taxonomy.json)."""
