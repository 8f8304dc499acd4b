"""Tables — 12345 hotline work orders and the address gazetteer."""
