"""The fund ledger: capital in and out of a fund, and the return metrics computed from it."""
