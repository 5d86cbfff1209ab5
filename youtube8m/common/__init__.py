"""Small helpers every layer uses: errors, checks, atomic outputs, progress
lines, the quiet console, command-line plumbing and settings.
"""
