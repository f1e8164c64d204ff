"""Render pieces to audio with FluidSynth and a General MIDI SoundFont, for the report's players.

Both are optional system tools. :func:`find_synth` locates them (``$TUNESMITH_SOUNDFONT`` or a
few common SoundFont paths; ``fluidsynth`` on ``PATH``) or raises :class:`AudioUnavailable`
saying what is missing; :data:`ENABLE_AUDIO` says how to get them. Audio is compressed when the
installed fluidsynth can (Ogg Vorbis, else FLAC, through its libsndfile), else written as mono
16-bit WAV from fluidsynth's raw output, always at 22050 Hz to keep the page small.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunesmith.data.midi import read_midi, write_midi
from tunesmith.data.notes import Notes
from tunesmith.errors import TunesmithError

SOUNDFONT_ENV = "TUNESMITH_SOUNDFONT"
# Debian's timgm6mb-soundfont (6 MB) first: it renders fine and keeps installs small.
SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
)
INSTALL = "apt-get install fluidsynth timgm6mb-soundfont"  # Debian and Ubuntu
ENABLE_AUDIO = (
    f"{INSTALL} (Debian/Ubuntu), or set {SOUNDFONT_ENV}=/path/to.sf2 to a General MIDI "
    "SoundFont you have"
)
SAMPLE_RATE = 22050  # Hz: plenty for a piano roll's worth of listening, half the bytes of 44.1k
MAX_SECONDS = 60.0  # rendered length cap, so a long piece cannot bloat the page
TIMEOUT = 60.0  # seconds for one render; fluidsynth renders about 100x faster than real time


class AudioUnavailable(TunesmithError):
    """FluidSynth or a SoundFont is missing; the message says which (see :data:`ENABLE_AUDIO`)."""


class RenderError(TunesmithError):
    """fluidsynth ran but did not produce audio (crashed, timed out, wrote nothing)."""


@dataclass(frozen=True)
class AudioFormat:
    """How fluidsynth is asked to write (``-T`` file type) and what the result is."""

    name: str  # "ogg", "flac" or "wav"
    file_type: str  # fluidsynth's -T value
    suffix: str
    mime: str


FORMATS = {
    "ogg": AudioFormat("ogg", "oga", ".ogg", "audio/ogg"),
    "flac": AudioFormat("flac", "flac", ".flac", "audio/flac"),
    # Raw interleaved stereo s16 from fluidsynth, downmixed and wrapped in WAV here: raw is the
    # one file type every fluidsynth build has, even one without libsndfile.
    "wav": AudioFormat("wav", "raw", ".wav", "audio/wav"),
}


@dataclass(frozen=True)
class Synth:
    """A usable fluidsynth executable, SoundFont, and the best format the executable writes."""

    fluidsynth: str
    soundfont: Path
    format: AudioFormat


def find_soundfont() -> Path:
    """The SoundFont to use: ``$TUNESMITH_SOUNDFONT`` if set, else the first of
    :data:`SOUNDFONT_PATHS` that exists. Raises :class:`AudioUnavailable` if none."""
    chosen = os.environ.get(SOUNDFONT_ENV)
    if chosen:
        # An explicit choice that is wrong is reported, not silently replaced by another font.
        if not Path(chosen).is_file():
            raise AudioUnavailable(f"{SOUNDFONT_ENV}={chosen} is not a file")
        return Path(chosen)
    for path in SOUNDFONT_PATHS:
        if Path(path).is_file():
            return Path(path)
    raise AudioUnavailable(
        f"no General MIDI SoundFont found (looked in {', '.join(SOUNDFONT_PATHS)})"
    )


def find_synth() -> Synth:
    """fluidsynth on ``PATH`` and a SoundFont, or :class:`AudioUnavailable` naming every part
    that is missing."""
    reasons = []
    fluidsynth = shutil.which("fluidsynth")
    if fluidsynth is None:
        reasons.append("fluidsynth is not on PATH")
    try:
        soundfont = find_soundfont()
    except AudioUnavailable as e:
        reasons.append(str(e))
    if reasons:
        raise AudioUnavailable("; ".join(reasons))
    assert fluidsynth is not None
    return Synth(fluidsynth, soundfont, FORMATS[_best_format(fluidsynth)])


@functools.lru_cache(maxsize=8)
def file_types(fluidsynth: str) -> frozenset[str]:
    """The ``-T`` file types this fluidsynth can write (empty if it cannot say)."""
    try:
        out = subprocess.run(
            [fluidsynth, "-T", "help"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(re.findall(r"'(\w+)'", out.stdout + out.stderr))


def _best_format(fluidsynth: str) -> str:
    types = file_types(fluidsynth)
    return next((f for f in ("ogg", "flac") if FORMATS[f].file_type in types), "wav")


def clip(notes: Notes, seconds: float) -> Notes:
    """The notes that start before ``seconds``, cut off at ``seconds``."""
    keep = notes.take(np.flatnonzero(notes.start < seconds))
    return Notes(keep.start, np.minimum(keep.end, seconds), keep.pitch, keep.velocity)


def render(
    midi_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    synth: Synth | None = None,
    audio_format: str | None = None,
    max_seconds: float = MAX_SECONDS,
) -> Path:
    """Render a MIDI file's first ``max_seconds`` to audio, atomically; returns the written path.

    ``out_path``'s suffix is replaced by the format's (``.ogg``, ``.flac`` or ``.wav``).
    ``audio_format`` forces one of :data:`FORMATS`; by default the best this fluidsynth writes.
    Raises :class:`AudioUnavailable`, :class:`RenderError`, or the MIDI reading errors.
    """
    return render_notes(
        read_midi(midi_path),
        out_path,
        synth=synth,
        audio_format=audio_format,
        max_seconds=max_seconds,
    )


def render_notes(
    notes: Notes,
    out_path: str | os.PathLike,
    *,
    synth: Synth | None = None,
    audio_format: str | None = None,
    max_seconds: float = MAX_SECONDS,
) -> Path:
    """Like :func:`render`, from notes already read (played on a piano, program 0)."""
    synth = synth or find_synth()
    fmt = FORMATS[audio_format] if audio_format else synth.format
    out = Path(out_path).with_suffix(fmt.suffix)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        midi = write_midi(clip(notes, max_seconds), Path(tmp) / "clip.mid")
        raw = Path(tmp) / ("audio.raw" if fmt.name == "wav" else f"audio{fmt.suffix}")
        _fluidsynth(synth, fmt, midi, raw)
        if fmt.name == "wav":
            written = Path(tmp) / "audio.wav"
            _raw_to_mono_wav(raw, written)
        else:
            written = raw
        # The temp folder lies beside the output, so this rename is atomic.
        os.replace(written, out)
    return out


def _fluidsynth(synth: Synth, fmt: AudioFormat, midi: Path, out: Path) -> None:
    cmd = [synth.fluidsynth, "-ni", "-g", "0.8", "-r", str(SAMPLE_RATE), "-T", fmt.file_type]
    cmd += ["-F", str(out), str(synth.soundfont), str(midi)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as e:
        raise RenderError(f"fluidsynth took over {TIMEOUT:.0f} s rendering {midi}") from e
    except OSError as e:
        raise RenderError(f"cannot run {synth.fluidsynth}: {e}") from e
    if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RenderError(f"fluidsynth failed (exit {done.returncode}): {tail[0]}")


def _raw_to_mono_wav(raw: Path, out: Path) -> None:
    # fluidsynth's raw output is interleaved stereo, 16-bit, in the machine's byte order.
    data = np.frombuffer(raw.read_bytes(), dtype=np.int16)
    stereo = data[: len(data) // 2 * 2].reshape(-1, 2).astype(np.int32)
    mono = (stereo.sum(axis=1) // 2).astype("<i2")
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(mono.tobytes())
