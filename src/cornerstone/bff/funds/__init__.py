"""Public fund routes: funds, NAV marks, commitments."""
