"""Event schemas, topics, Kafka clients, replay/record, the simulator and the Faust app."""
