"""Typed errors raised at the library boundary.

Every error a user can cause (a bad file, a bad option) is a :class:`TunesmithError`; the CLI prints
its message on one line and exits non-zero without a traceback. Messages name the file or the
parameter and the value received.
"""

from __future__ import annotations


class TunesmithError(Exception):
    """Base class of every error caused by user input rather than by a bug."""


class ConfigError(TunesmithError, ValueError):
    """A configuration value is invalid (names the parameter and the value)."""


class MidiReadError(TunesmithError):
    """A file could not be read as MIDI (missing, unreadable, not MIDI, truncated or corrupt)."""


class EmptyScoreError(TunesmithError):
    """A MIDI file was read but holds no usable notes (no notes at all, or drums only)."""


class CacheMismatchError(TunesmithError):
    """A token cache or checkpoint was made with other settings than the ones asked for."""


class CacheCorruptError(TunesmithError):
    """A token cache on disk is incomplete or damaged."""


class NoDataError(TunesmithError):
    """Nothing usable remains after skipping bad inputs."""


class CheckpointError(TunesmithError):
    """A checkpoint is missing, damaged, of another kind, or does not fit the data or request."""


class OutputError(TunesmithError):
    """An output path cannot be written, or holds an earlier run that was not to be replaced."""


class WorkerError(TunesmithError):
    """Worker processes could not start (for example, a script without a ``__main__`` guard)."""
