"""leadrelay: a first-party lead tracking gateway for Dub, PIMMS and DATA Reshape."""

__version__ = "0.1.0"
