"""Load generators: simulated users for A/B runs and an HTTP load loop for benchmarks."""
