"""fasmodel: the CNN-RNN of Liu et al. (CVPR 2018) trained and evaluated over fasprep shards."""

__version__ = "0.1.0"
