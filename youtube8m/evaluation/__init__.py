"""Metrics (GAP, MAP, Hit@1, PERR, segment MAP), the evaluators behind eval.py,
the report and the local scorer.
"""
