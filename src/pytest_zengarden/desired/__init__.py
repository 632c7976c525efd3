"""Desired state derived from the site (pure): what provisioning converges to and the lab starts from."""
