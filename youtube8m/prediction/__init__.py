"""Predictions: the Kaggle CSVs (video and segment level) and labelling a
single video.
"""
