"""Tables — Video algorithms: cameras, scene mappings and alerts."""
