"""The LP portal's portfolio route."""
