"""Public deal overrides routes."""
