"""One module per ``homelab`` command; each is imported only when it runs."""
