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
from symusic.core import NoteTickList, ScoreTick, TempoTick, TempoTickList, TrackTick

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

    Raises :class:`MidiReadError` when the file is missing, unreadable, not valid MIDI or fails
    a check (see :func:`load_score` and :meth:`NoteBatch.add`), and :class:`EmptyScoreError`
    when it holds no notes outside drum tracks.
    """
    batch = NoteBatch(config)
    batch.add(load_score(path, config), path)
    notes, _ = batch.build()
    return notes.sorted()


def load_score(path: str | os.PathLike, config: ReadConfig | None = None) -> ScoreTick:
    """Read and parse a MIDI file with symusic (ticks), or raise :class:`MidiReadError`.

    A file larger than ``config.max_megabytes`` is refused unread; a header chunk longer than 6
    bytes (legal: readers skip the rest) is read; SMPTE timing (frames per second) is read as
    the tempo it implies; zero ticks per quarter and zero tempos are refused.
    """
    config = config or ReadConfig()
    try:
        size = Path(path).stat().st_size
        if size > config.max_megabytes * 1e6:
            raise MidiReadError(
                f"{path}: too large ({size / 1e6:.1f} MB; read.max_megabytes is "
                f"{config.max_megabytes:g})"
            )
        data = Path(path).read_bytes()
    except OSError as e:
        raise MidiReadError(f"{path}: cannot read file ({e.strerror or e})") from e
    if not data:
        raise MidiReadError(f"{path}: empty file")
    if data[:4] != b"MThd":
        raise MidiReadError(f"{path}: not a MIDI file (no MThd header)")
    data, ticks_per_second = _plain_header(data, path)
    try:
        score = ScoreTick.from_midi(data)
    except Exception as e:  # symusic raises RuntimeError with a parser message
        reason = str(e).removeprefix("MiniMidi: ").removesuffix(": iostream error")
        reason = " ".join(reason.split())  # one line, whatever the parser said
        raise MidiReadError(f"{path}: corrupt or truncated MIDI ({reason})") from e
    if ticks_per_second:
        # SMPTE time ignores tempo events: one constant tempo gives the same seconds.
        score.tempos = TempoTickList([TempoTick(0, qpm=60.0 * ticks_per_second / score.tpq)])
    elif len(score.tempos):
        mspq = score.tempos.numpy()["mspq"]
        if mspq.min() <= 0:
            at = int(score.tempos.numpy()["time"][np.argmin(mspq)])
            raise MidiReadError(
                f"{path}: bad tempo ({int(mspq.min())} microseconds per quarter at tick {at})"
            )
    return score


def _plain_header(data: bytes, path: str | os.PathLike) -> tuple[bytes, float]:
    """The file with a 6-byte header in ticks per quarter, and its ticks per second if its
    header gave SMPTE timing (else 0). Raises :class:`MidiReadError` for an unusable header."""
    if len(data) < 14:
        raise MidiReadError(f"{path}: corrupt or truncated MIDI (header of {len(data)} bytes)")
    length = int.from_bytes(data[4:8], "big")
    if length < 6 or length > len(data) - 8:
        raise MidiReadError(f"{path}: corrupt or truncated MIDI (header chunk of {length} bytes)")
    division = int.from_bytes(data[12:14], "big")
    ticks_per_second = 0.0
    if division & 0x8000:
        fps, per_frame = 256 - (division >> 8), division & 0xFF
        if fps not in (24, 25, 29, 30) or per_frame == 0:
            raise MidiReadError(
                f"{path}: bad timing (SMPTE {fps} frames per second, {per_frame} ticks per frame)"
            )
        ticks_per_second = (29.97 if fps == 29 else fps) * per_frame
        division = fps * per_frame  # below 0x8000: a ticks-per-quarter symusic reads
    elif division == 0:
        raise MidiReadError(f"{path}: bad timing (ticks per quarter is 0)")
    if length == 6 and not ticks_per_second:
        return data, 0.0
    header = data[:4] + (6).to_bytes(4, "big") + data[8:12] + division.to_bytes(2, "big")
    return header + data[8 + length :], ticks_per_second


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
        """Add one tick-based score; returns its note count. Raises :class:`EmptyScoreError`
        when it has no notes outside drums and :class:`MidiReadError` when its notes are out of
        range (pitch or velocity above 127, negative or non-finite times) or it exceeds
        ``max_notes`` or ``max_seconds``; a refused score adds nothing."""
        scale, convert = _tick_scale(score)
        sustain = self.config.sustain
        added = count = 0
        drums = False
        tracks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
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
            tracks.append((time, dur, pitch, n["velocity"]))
            added += 1
            count += len(time)
            if self.config.first_track_only:
                break
        if not added:
            raise EmptyScoreError(f"{name}: {'only drum tracks' if drums else 'no notes'}")
        self._check(tracks, scale, count, name)
        self._tracks += tracks
        self._scale += [scale] * added
        self._per_score.append(added)
        return count

    def _check(self, tracks: list, scale: float, count: int, name: str | os.PathLike) -> None:
        """Refuse notes no real piece has, before they reach the batch."""
        limit = self.config.max_notes
        if count > limit:
            raise MidiReadError(f"{name}: too many notes ({count:,}; read.max_notes is {limit:,})")
        first, last = np.inf, -np.inf
        for time, dur, pitch, velocity in tracks:
            # symusic's pitch and velocity are int8: a data byte above 127 reads as negative.
            if pitch.min() < 0 or velocity.min() < 0:
                raise MidiReadError(f"{name}: bad notes (pitch or velocity above 127)")
            with np.errstate(all="ignore"):
                start, end = time * scale, (time + dur.astype(np.float64)) * scale  # no wrap
            if not (np.isfinite(start).all() and np.isfinite(end).all()):
                raise MidiReadError(f"{name}: bad timing (times that are not finite)")
            first, last = min(first, float(start.min())), max(last, float(end.max()))
            if start.min() < 0 or (end < start).any():
                raise MidiReadError(f"{name}: bad timing (negative times or note lengths)")
        limit_s = self.config.max_seconds
        if last - first > limit_s:
            raise MidiReadError(
                f"{name}: too long ({(last - first) / 3600:.1f} h; read.max_seconds is {limit_s:g})"
            )

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
