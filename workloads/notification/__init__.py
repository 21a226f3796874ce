"""Notification: tells customers who asked about their delivery's progress, by email and SMS."""
