"""fasprep: auxiliary labels (depth maps, rPPG) for face anti-spoofing video datasets."""

import logging

__version__ = "0.2.0"

# A library's loggers stay silent unless the application configures logging (the CLIs do);
# without this, Python's last-resort handler would print fasprep's warnings to stderr.
logging.getLogger(__name__).addHandler(logging.NullHandler())
