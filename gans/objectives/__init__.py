"""Losses and regularizers as pure functions."""
