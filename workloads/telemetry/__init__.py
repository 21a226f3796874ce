"""Drone telemetry: validates drone reports, keeps the latest state per drone and publishes positions."""
