"""Tools apart from the product: the simulator, the demo, benchmarks, drills, load
generators and toy models. Product packages import none of this."""
