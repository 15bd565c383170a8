"""Public deal parties routes."""
