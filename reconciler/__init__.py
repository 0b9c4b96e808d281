"""reconciler: declare the videos you want; plan and apply them against Segmind's Wan models."""

__version__ = "0.1.0"
