"""Drone scheduler: the fleet in Redis, nearest capable drone assigned atomically."""
