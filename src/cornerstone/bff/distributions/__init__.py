"""Public distribution routes."""
