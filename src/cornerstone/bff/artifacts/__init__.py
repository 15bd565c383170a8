"""Public artifact routes: upload to a deal, list, download."""
