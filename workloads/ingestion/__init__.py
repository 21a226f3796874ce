"""Ingestion: accepts delivery requests over HTTPS and hands them durably to the workflow's queue."""
