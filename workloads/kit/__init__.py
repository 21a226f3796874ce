"""Shared kit of the workloads: settings, logs, tracing, health, metrics, messaging and resilience."""
