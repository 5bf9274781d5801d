"""Performance figures for `make bench`: measured here, printed, never asserted in tests."""
