"""Capital calls: allocation over commitments, issue, payments, cancellation."""
