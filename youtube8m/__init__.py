"""youtube8m: train, evaluate and serve video classifiers on YouTube-8M (TF2)."""

__version__ = "1.0.0"
