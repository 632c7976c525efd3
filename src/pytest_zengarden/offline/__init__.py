"""Reading router configuration from files instead of a live router."""
