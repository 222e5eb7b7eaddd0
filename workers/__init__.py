"""RQ job entry points (`jobs.py`) and the worker launcher (`run.py`).

Entry points are thin: they open an app context, call a domain task with ids, and commit.
"""
