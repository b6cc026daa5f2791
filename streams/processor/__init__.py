"""The stream processor: Faust app, aggregation, label-request policy, metrics."""
