"""mockserver: a faithful, stateful fake of the Segmind serverless API for the Wan video models."""

__version__ = "0.1.0"
