"""Data rights (issue 16): account deletion that reaches the lake, retention, export.

A delivery module: it spans every context (their database rows, the lake, the spool), so it sits above
them and uses each one through its public module.
"""
