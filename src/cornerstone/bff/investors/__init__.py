"""Public investor routes and investor statements."""
