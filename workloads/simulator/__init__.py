"""Drone fleet simulator: requests deliveries, flies the assigned drones and reports their telemetry."""
