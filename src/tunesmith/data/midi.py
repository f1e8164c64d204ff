"""MIDI files <-> :class:`Notes`, through symusic.

Timing is read in ticks and converted to seconds with the tempo map in float64 (symusic's own
second-based reading is float32, which flips 10 ms roundings on long pieces). Notes of all
non-drum tracks are merged unless ``first_track_only``; the sustain pedal (CC64) lengthens notes
as a pianist hears them, like Magenta's Performance RNN.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from symusic.core import NoteTickList, ScoreTick, TempoTick, TrackTick

from tunesmith.atomic import atomic_write_bytes
from tunesmith.config import ReadConfig
from tunesmith.data.notes import Notes
from tunesmith.errors import EmptyScoreError, MidiReadError

MIDI_SUFFIXES = (".mid", ".midi")
SUSTAIN_CC = 64
WRITE_TPQ = 500  # with 120 bpm one tick is exactly 1 ms
WRITE_QPM = 120.0


def read_midi(path: str | os.PathLike, config: ReadConfig | None = None) -> Notes:
    """Read a MIDI file into notes (seconds, sorted by onset then pitch).

    Raises :class:`MidiReadError` when the file is missing, unreadable or not valid MIDI, and
    :class:`EmptyScoreError` when it holds no notes outside drum tracks.
    """
    batch = NoteBatch(config)
    batch.add(load_score(path), path)
    notes, _ = batch.build()
    return notes.sorted()


def load_score(path: str | os.PathLike) -> ScoreTick:
    """Read and parse a MIDI file with symusic (ticks), or raise :class:`MidiReadError`."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise MidiReadError(f"{path}: cannot read file ({e.strerror or e})") from e
    if not data:
        raise MidiReadError(f"{path}: empty file")
    if data[:4] != b"MThd":
        raise MidiReadError(f"{path}: not a MIDI file (no MThd header)")
    try:
        return ScoreTick.from_midi(data)
    except Exception as e:  # symusic raises RuntimeError with a parser message
        reason = str(e).removeprefix("MiniMidi: ").removesuffix(": iostream error")
        raise MidiReadError(f"{path}: corrupt or truncated MIDI ({reason})") from e


class NoteBatch:
    """Collects the notes of many scores and converts them together.

    Per score it only takes symusic's arrays (no numpy arithmetic), so reading a corpus costs
    little beyond symusic's own parse; :meth:`build` then does the arithmetic once for all.
    """

    def __init__(self, config: ReadConfig | None = None) -> None:
        self.config = config or ReadConfig()
        # per track: (onset, duration, pitch, velocity); times in ticks, or seconds if the
        # score changes tempo, and seconds per unit of time in _scale
        self._tracks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._scale: list[float] = []
        self._per_score: list[int] = []  # how many tracks each score added

    def add(self, score: ScoreTick, name: str | os.PathLike) -> int:
        """Add one tick-based score; returns its note count or raises :class:`EmptyScoreError`."""
        scale, convert = _tick_scale(score)
        sustain = self.config.sustain
        added = count = 0
        drums = False
        for track in score.tracks:
            if track.is_drum:
                drums = drums or len(track.notes) > 0
                continue
            n = track.notes.numpy()
            time, dur, pitch = n["time"], n["duration"], n["pitch"]
            if not len(time):
                continue
            if sustain and len(track.controls):
                down, up = _pedal_spans(track.controls.numpy())
                if len(down):
                    time = time.astype(np.int64)
                    dur = _apply_sustain(time, time + dur, pitch, down, up) - time
            if convert is not None:
                start = convert(time.astype(np.int64))
                time, dur = start, convert(time.astype(np.int64) + dur) - start
            self._tracks.append((time, dur, pitch, n["velocity"]))
            self._scale.append(scale)
            added += 1
            count += len(time)
            if self.config.first_track_only:
                break
        if not added:
            raise EmptyScoreError(f"{name}: {'only drum tracks' if drums else 'no notes'}")
        self._per_score.append(added)
        return count

    def build(self) -> tuple[Notes, np.ndarray]:
        """All notes added so far, and offsets: score ``i`` is ``notes[off[i]:off[i + 1]]``."""
        time, dur, pitch, velocity = (np.concatenate(a) for a in zip(*self._tracks))
        sizes = np.array([len(t[0]) for t in self._tracks], dtype=np.int64)
        scale = np.repeat(np.array(self._scale), sizes)
        start = time * scale
        per_score = np.add.reduceat(sizes, np.r_[0, np.cumsum(self._per_score)[:-1]])
        notes = Notes(start, start + dur * scale, pitch.astype(np.int16), velocity.astype(np.int16))
        return notes, np.r_[0, np.cumsum(per_score)]


def _tick_scale(score: ScoreTick):
    """(seconds per tick, None) for a constant tempo, else (1.0, ticks -> seconds converter)."""
    tempos = score.tempos
    if len(tempos) == 0 or (len(tempos) == 1 and tempos[0].time == 0):
        mspq = tempos[0].mspq if len(tempos) else 500_000  # MIDI's default: 120 bpm
        return mspq / (1e6 * score.tpq), None
    return 1.0, _tick_converter(score)


def _tick_converter(score: ScoreTick):
    """Ticks -> float64 seconds, honouring every tempo change."""
    tpq = score.tpq
    tempos = score.tempos.numpy()
    times, mspq = tempos["time"].astype(np.int64), tempos["mspq"].astype(np.float64)
    if len(times) == 0 or times[0] > 0:  # MIDI's default before any tempo event: 120 bpm
        times, mspq = np.r_[0, times], np.r_[500_000.0, mspq]
    sec_per_tick = mspq / (1e6 * tpq)
    if len(times) == 1:
        return lambda ticks: ticks * sec_per_tick[0]
    seg_start = np.r_[0.0, np.cumsum(np.diff(times) * sec_per_tick[:-1])]

    def convert(ticks: np.ndarray) -> np.ndarray:
        i = np.searchsorted(times, ticks, side="right") - 1
        return seg_start[i] + (ticks - times[i]) * sec_per_tick[i]

    return convert


def _pedal_spans(controls: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(down, up) tick pairs of the sustain pedal; value >= 64 is down."""
    sel = controls["number"] == SUSTAIN_CC
    time = controls["time"][sel].astype(np.int64)
    is_down = controls["value"][sel] >= 64
    order = np.argsort(time, kind="stable")
    time, is_down = time[order], is_down[order]
    # Keep only real changes of state (the pedal starts up), so downs and ups alternate.
    changed = is_down != np.r_[False, is_down[:-1]]
    down, up = time[changed & is_down], time[changed & ~is_down]
    if len(up) < len(down):  # still down at the end: released at the last key release
        up = np.r_[up, np.iinfo(np.int64).max]
    return down, up


def _apply_sustain(
    start: np.ndarray, end: np.ndarray, pitch: np.ndarray, down: np.ndarray, up: np.ndarray
) -> np.ndarray:
    """Extend notes released while the pedal is down to the pedal's release; a sustained note
    ends early when its key is struck again (Magenta's rule)."""
    span = np.searchsorted(down, end, side="right") - 1
    held = (span >= 0) & (end < up[np.maximum(span, 0)])
    new_end = np.where(held, up[np.maximum(span, 0)], end)
    # A pedal held to the end of the file (no release: the sentinel) ends at the last key
    # release; a pedal released in the file keeps its notes to that release.
    last = max(end.max(), start.max() + 1)
    new_end[new_end == np.iinfo(np.int64).max] = last
    order = np.lexsort((start, pitch))
    p, s = pitch[order], start[order]
    next_start = np.r_[s[1:], np.iinfo(np.int64).max]
    next_start[np.r_[p[1:] != p[:-1], True]] = np.iinfo(np.int64).max
    restruck = np.empty_like(next_start)
    restruck[order] = next_start
    return np.where(held, np.maximum(end, np.minimum(new_end, restruck)), end)


def notes_to_score(notes: Notes, program: int = 0) -> ScoreTick:
    """Notes -> a one-track symusic score at 120 bpm, 1 ms per tick."""
    score = ScoreTick(WRITE_TPQ)
    score.tempos.append(TempoTick(0, qpm=WRITE_QPM))
    track = TrackTick("tunesmith", program)
    ms_per_tick = 60.0 / WRITE_QPM / WRITE_TPQ
    start = np.round(notes.start / ms_per_tick).astype(np.int32)
    end = np.maximum(np.round(notes.end / ms_per_tick).astype(np.int32), start + 1)
    track.notes = NoteTickList.from_numpy(
        start,
        end - start,
        notes.pitch.astype(np.int8),
        np.clip(notes.velocity, 1, 127).astype(np.int8),
    )
    score.tracks.append(track)
    return score


def write_midi(notes: Notes, path: str | os.PathLike, program: int = 0) -> Path:
    """Write notes as a MIDI file, atomically (a temp file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = notes_to_score(notes, program).dumps_midi()
    atomic_write_bytes(path, data)
    return path
