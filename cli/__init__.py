"""The `fabrikam` command line."""
