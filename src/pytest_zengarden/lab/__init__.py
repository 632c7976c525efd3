"""The embedded lab: a digital twin of the site in network namespaces."""
