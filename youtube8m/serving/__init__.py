"""Serving: SavedModel export, model archives (.tar.gz) and the predictors that
load any of them.
"""
