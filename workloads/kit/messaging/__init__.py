"""The messaging port and its adapters: Redis Streams locally, Azure Service Bus in Azure."""
