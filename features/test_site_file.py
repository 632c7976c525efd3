"""Site-file consistency (features/site_file.feature)."""

from pytest_bdd import scenarios

scenarios("site_file.feature")
