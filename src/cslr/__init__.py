"""cslr: continuous sign language recognition — video in, glosses, English and speech out."""

__version__ = "0.1.0"
