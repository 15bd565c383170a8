"""Public deal materials routes."""
