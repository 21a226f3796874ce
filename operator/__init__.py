"""Fabrikam Drone Delivery operator: reconciles DeliveryPlatform and DroneService resources."""
