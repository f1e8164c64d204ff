"""tunesmith: an LSTM Composer that writes music and an LSTM Critic that judges it."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tunesmith")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
