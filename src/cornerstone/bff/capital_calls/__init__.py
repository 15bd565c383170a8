"""Public capital call routes."""
