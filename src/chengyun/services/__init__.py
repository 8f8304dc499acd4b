"""Use cases, named after what a user does; they take the unit of work and the clock."""
