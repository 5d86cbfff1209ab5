"""Features from your own videos: decoding, the dataset's Inception-v3 and
VGGish networks, and the extraction pipeline.
"""
