"""The demo: a supervisor that runs the whole loop on a simulated shop and reports."""
