"""fasprep: auxiliary labels (depth maps, rPPG) for face anti-spoofing video datasets."""

__version__ = "0.1.0"
