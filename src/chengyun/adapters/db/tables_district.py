"""Tables — The district platform: exchanged messages."""
