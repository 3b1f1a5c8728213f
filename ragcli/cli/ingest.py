"""`rag ingest` and `rag status` (placeholder until the ingest pipeline lands)."""
