"""Demo data: the illustrative Yingpu sub-district territory and the generators behind it."""
