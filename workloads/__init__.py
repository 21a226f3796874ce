"""The eight Fabrikam Drone Delivery services, shipped as one image."""
