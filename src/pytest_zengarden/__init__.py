"""pytest-zengarden: provision and continuously verify a homelab against its design document."""

__version__ = "0.1.0"
