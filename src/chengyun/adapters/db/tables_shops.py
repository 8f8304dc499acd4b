"""Tables — Citizen QR codes: the shop registry."""
