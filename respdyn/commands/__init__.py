"""Command families, one module per Redis group; each declares its commands into its own table."""
