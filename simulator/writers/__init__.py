"""One writer per source system; each writes what that system holds as of a day."""
