"""The search-log simulator: a seeded e-commerce world with graded ground truth.

`simulate(SimConfig(...))` writes the contract files (catalog, search log, labels) plus
splits, query metadata, a scenario description and ideal CoT annotations; the loaders
in `relstream.core.shop_files` read them back for evaluators. `SimConfig.family` picks the
shop family (`relstream.tools.simulator.families`): family 0 is the general marketplace, the
others are shops of other trades with their own taxonomy, words and styles.
"""
