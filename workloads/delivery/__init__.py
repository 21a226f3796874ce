"""Delivery: tracks each scheduled delivery's stage, position and ETAs, and takes confirmations."""
