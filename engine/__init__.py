"""Overpaint's generation engine: plain Python + numpy + torch, no Qt widgets.

Only engine.worker touches QtCore. Heavy imports (torch, diffusers) happen on first use.
"""

__version__ = "0.1.0"
