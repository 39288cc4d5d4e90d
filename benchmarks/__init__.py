"""`make bench`: slugbuild measured against the tools a user would otherwise use, in the same run."""
