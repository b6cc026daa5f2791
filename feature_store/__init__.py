"""Feast repo (entities, feature views, push sources), store config and feature helpers."""
