"""Deal artifacts: uploaded files, typed by their bytes, stored by SHA-256 per org, re-checked on read."""
