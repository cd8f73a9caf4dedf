"""Typed Redis values over a versioned store (the local engine now, the Dynamo coordinator
later)."""
