"""Synthetic data for the demo, the tests and the benchmarks, apart from the pipeline.

- :mod:`.live`: live face videos with a known pulse (a real photo with a blood-volume pulse in
  its skin, moved, lit and given sensor noise).
- :mod:`.attacks`: print and replay attacks of a photo under perspective motion.
- :mod:`.mock_tree`: mock raw trees of any dataset adapter (names, annotations, truth).
"""

from .live import (
                   BVP_DIRECTION,
                   animate_face,
                   back_and_forth,
                   example_face,
                   inject_pulse,
                   normalise_pulse,
                   photo_background,
                   pulse_in_frames,
                   resample_ppg,
                   skin_colour_mask,
                   synthetic_ppg,
)

__all__ = ["BVP_DIRECTION", "animate_face", "back_and_forth", "example_face", "inject_pulse", "normalise_pulse",
           "photo_background", "pulse_in_frames", "resample_ppg", "skin_colour_mask", "synthetic_ppg"]
