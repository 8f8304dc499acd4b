"""Bounds on numbers clients send, so that none reaches the database out of range."""

#: The largest id a path may carry (a 32-bit signed integer, as the columns hold).
MAX_ID = 2**31 - 1
#: The furthest a list may be paged into.
MAX_OFFSET = 10_000_000
