"""Training: the loop, the replicated step, its settings, the train_dir lock,
distribution and warm starts.
"""
