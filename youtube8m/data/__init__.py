"""YouTube-8M records: readers, record builders, the generated dataset,
submission files, and the shipped metadata CSVs.
"""
