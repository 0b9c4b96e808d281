"""The apply engine: from a plan to stored videos, never paying twice (see generation.py)."""
