"""The kernel: sole authority for deal state and money. Imports ``kit`` and ``contracts`` only."""
