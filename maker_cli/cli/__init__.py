"""The command-line layer: thin commands over the core (one file per command)."""
