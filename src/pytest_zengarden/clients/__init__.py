"""Clients for the systems a site is made of; the only modules (with the probes) that do network I/O."""
