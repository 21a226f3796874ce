"""Workflow: the saga that turns a delivery request into a package, a drone and a scheduled delivery."""
