"""The `relstream bench ...` programs: each measures a path against a baseline in the same run."""
