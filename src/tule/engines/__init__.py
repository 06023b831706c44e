"""Third-party engines behind small ports (DuckDB for Athena, ...): no AWS, no HTTP."""
