"""A deal's external parties (counsel, lender, escrow, property manager)."""
