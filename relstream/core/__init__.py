"""The core layer: settings, errors, event schemas, topics, Kafka I/O, the ClickHouse
client, shop files, metrics and the model registry. It imports no other relstream package."""
