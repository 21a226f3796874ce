"""Package: package records on the MongoDB API (Cosmos DB for MongoDB in Azure), sharded on tag."""
