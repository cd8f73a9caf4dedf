"""respdyn: a Redis-protocol drop-in server backed by a Dynamo-style replicated LSM store."""

__version__ = "0.1.0"
