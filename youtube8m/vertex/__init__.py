"""Vertex AI: the job's AIP_* directories and CustomJob spec checks."""
