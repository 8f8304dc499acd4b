"""Geographic adapters: coordinate systems and map geometry."""
