"""Tables — Open311 GeoReport v2 applications (registered apps and their api keys)."""
