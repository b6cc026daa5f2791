"""Drills: fault and hot-swap exercises against a running server."""
