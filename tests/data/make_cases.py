"""Write the small MIDI case files the tests read, each with one property (run from anywhere).

    python tests/data/make_cases.py                      # (re)write the case files
    python tests/data/make_cases.py --update-reference   # also rewrite bwv10.7.tokens.json

The one-property files are written with mido, a MIDI writer independent of the symusic reader
under test, so a reader bug cannot be hidden by a matching writer bug. Every expected value in
the tests is worked out by hand from the events written here (the comments give the arithmetic).

``bwv10.7.mid`` is a real piece: J. S. Bach's chorale BWV 10.7 from music21's bundled corpus,
converted by music21's MIDI writer (as the corpus pipeline does). ``truncated.mid`` is its first
half. ``bwv10.7.tokens.json`` is the reference token sequence of that file under the default
codec; it is written only with ``--update-reference``, because it exists to make any change of
the token representation fail a test until someone changes it deliberately.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import mido

HERE = Path(__file__).resolve().parent
REAL = "bwv10.7.mid"
REFERENCE = "bwv10.7.tokens.json"


def _track(events: list[tuple[int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
    """A track from (absolute tick, message) pairs; stable-sorted by tick, delta times set."""
    track = mido.MidiTrack()
    now = 0
    for tick, msg in sorted(events, key=lambda e: e[0]):
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track


def _notes(rows, channel: int = 0) -> list:
    """(pitch, on tick, off tick, velocity) rows -> note_on / note_off events."""
    events = []
    for pitch, on, off, vel in rows:
        events.append((on, mido.Message("note_on", note=pitch, velocity=vel, channel=channel)))
        events.append((off, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
    return events


def _tempo(tick: int, us_per_beat: int) -> tuple:
    return (tick, mido.MetaMessage("set_tempo", tempo=us_per_beat))


def _cc64(tick: int, value: int) -> tuple:
    return (tick, mido.Message("control_change", control=64, value=value))


def _save(name: str, tpq: int, *tracks: list) -> None:
    mid = mido.MidiFile(type=1 if len(tracks) > 1 else 0, ticks_per_beat=tpq)
    mid.tracks.extend(_track(t) for t in tracks)
    mid.save(HERE / name)


def write_cases() -> None:
    # tempo_change.mid: tpq 480, 120 bpm (500000 us/beat) then 60 bpm (1000000) from tick 960.
    # Tempo in a conductor track, notes in a second track (format 1, the usual layout).
    # 120 bpm: 1 tick = 0.5 s / 480; 60 bpm: 1 tick = 1 s / 480. Tick 960 = 1.0 s.
    #   60: ticks    0 -  480 -> 0.0  - 0.5 s
    #   62: ticks  480 -  960 -> 0.5  - 1.0 s
    #   64: ticks  720 - 1200 -> 0.75 - 1.5 s   (spans the change: 1.0 + 240/480 * 1.0)
    #   65: ticks  960 - 1440 -> 1.0  - 2.0 s
    #   67: ticks 1440 - 1920 -> 2.0  - 3.0 s
    rows = [(60, 0, 480, 80), (62, 480, 960, 80), (64, 720, 1200, 80)]
    rows += [(65, 960, 1440, 80), (67, 1440, 1920, 80)]
    _save("tempo_change.mid", 480, [_tempo(0, 500_000), _tempo(960, 1_000_000)], _notes(rows))

    # tempo_late.mid: no tempo at tick 0 (so MIDI's default, 120 bpm, applies until the first
    # tempo event), then 60 bpm from tick 960 (= 1.0 s). tpq 480.
    #   60: ticks 0 - 480 -> 0.0 - 0.5 s;  62: ticks 960 - 1440 -> 1.0 - 2.0 s
    _save(
        "tempo_late.mid",
        480,
        [_tempo(960, 1_000_000)],
        _notes([(60, 0, 480, 80), (62, 960, 1440, 80)]),
    )

    # tpq_96.mid and tpq_960.mid: the same music at 100 bpm (600000 us/beat: 1 beat = 0.6 s),
    # written with 96 and with 960 ticks per beat. In beats: 60 [0, 1), 64 [1, 2.5),
    # 67 [1, 1 + 1/3) (a triplet eighth: 32 or 320 ticks), 72 [2.5, 4).
    # In seconds: 60 0.0-0.6, 64 0.6-1.5, 67 0.6-0.8, 72 1.5-2.4.
    for tpq in (96, 960):
        rows = [
            (60, 0, tpq, 70),
            (64, tpq, 5 * tpq // 2, 71),
            (67, tpq, tpq + tpq // 3, 72),
            (72, 5 * tpq // 2, 4 * tpq, 73),
        ]
        _save(f"tpq_{tpq}.mid", tpq, [_tempo(0, 600_000), *_notes(rows)])

    # sustain.mid: tpq 480 at 120 bpm, so 1 tick = 1/960 s and 480 ticks = 0.5 s.
    # Pedal (CC64, down when value >= 64): down at 240 (127), a redundant down at 600 (100),
    # up at 1440 (0); down again at 2160 with value 64 (the threshold: down), up at 2640 with 63.
    #   48: ticks    0 - 1920 (0.0 - 2.0 s), released with the pedal up      -> 0.0 - 2.0 s
    #   60: ticks    0 -  480 (0.0 - 0.5 s), released under pedal 1          -> 0.0 - 1.5 s
    #   64: ticks  480 -  720 (0.5 - 0.75 s), under pedal, struck again at 960 -> 0.5 - 1.0 s
    #   64: ticks  960 - 1200 (1.0 - 1.25 s), released under pedal 1         -> 1.0 - 1.5 s
    #   67: ticks 1920 - 2400 (2.0 - 2.5 s), released under pedal 2          -> 2.0 - 2.75 s
    rows = [(48, 0, 1920, 60), (60, 0, 480, 61), (64, 480, 720, 62), (64, 960, 1200, 63)]
    rows += [(67, 1920, 2400, 64)]
    pedal = [_cc64(240, 127), _cc64(600, 100), _cc64(1440, 0), _cc64(2160, 64), _cc64(2640, 63)]
    _save("sustain.mid", 480, [_tempo(0, 500_000), *pedal, *_notes(rows)])

    # sustain_held.mid: the pedal goes down at tick 0 and is never released; notes stop at the
    # last key release instead of running on forever. 120 bpm, tpq 480.
    #   60: 0 - 480 (0.0 - 0.5 s) -> 0.0 - 1.0 s;   62: 240 - 960 (0.25 - 1.0 s) -> unchanged
    _save(
        "sustain_held.mid",
        480,
        [_tempo(0, 500_000), _cc64(0, 127), *_notes([(60, 0, 480, 90), (62, 240, 960, 90)])],
    )

    # two_tracks.mid: conductor track (120 bpm, tpq 480) and two note tracks.
    #   track 1 (channel 0): 60 [0, 0.5) s, 64 [0.5, 1.0) s
    #   track 2 (channel 1): 43 [0, 1.0) s, 48 [0.25, 0.75) s
    _save(
        "two_tracks.mid",
        480,
        [_tempo(0, 500_000)],
        _notes([(60, 0, 480, 100), (64, 480, 960, 100)], channel=0),
        _notes([(43, 0, 960, 50), (48, 240, 720, 50)], channel=1),
    )

    # drums_only.mid: notes on channel 10 (index 9) only; a reader must not call them music.
    _save(
        "drums_only.mid",
        480,
        [_tempo(0, 500_000), *_notes([(36, 0, 240, 100), (42, 240, 480, 100)], channel=9)],
    )

    # no_notes.mid: valid MIDI with a tempo, a time signature and a program change, but no notes.
    _save(
        "no_notes.mid",
        480,
        [
            _tempo(0, 500_000),
            (0, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
            (0, mido.Message("program_change", program=0)),
            (1920, mido.Message("control_change", control=7, value=100)),
        ],
    )

    # zero_velocity_off.mid: note_on with velocity 0 ends notes (running-status style files do
    # this); no note_off message at all. 120 bpm, tpq 480.
    #   60: ticks 0 - 480 -> 0.0 - 0.5 s (vel 77);  62: ticks 480 - 1440 -> 0.5 - 1.5 s (vel 88)
    _save(
        "zero_velocity_off.mid",
        480,
        [
            _tempo(0, 500_000),
            (0, mido.Message("note_on", note=60, velocity=77)),
            (480, mido.Message("note_on", note=60, velocity=0)),
            (480, mido.Message("note_on", note=62, velocity=88)),
            (1440, mido.Message("note_on", note=62, velocity=0)),
        ],
    )

    # Bad inputs, each of which a reader must refuse with a one-line reason:
    # not_midi.mid: a text file with a MIDI name.
    (HERE / "not_midi.mid").write_text("This is not a MIDI file, only text.\n")
    # empty.mid: zero bytes.
    (HERE / "empty.mid").write_bytes(b"")
    # garbage.mid: a valid 14-byte MThd header chunk, then 200 random bytes (seeded).
    header = b"MThd" + (6).to_bytes(4, "big") + bytes([0, 1, 0, 2, 1, 224])
    (HERE / "garbage.mid").write_bytes(header + random.Random(1234).randbytes(200))


def write_real() -> None:
    """bwv10.7.mid (music21's conversion of the corpus score) and truncated.mid (its first half)."""
    from music21 import converter, corpus, midi

    score = converter.parse(corpus.getWork("bach/bwv10.7.mxl"))
    data = midi.translate.streamToMidiFile(score).writestr()
    (HERE / REAL).write_bytes(data)
    (HERE / "truncated.mid").write_bytes(data[: len(data) // 2])


def write_reference() -> None:
    """The default codec's tokens of bwv10.7.mid, as read by read_midi with default settings."""
    from tunesmith.data.codec import Codec
    from tunesmith.data.midi import read_midi

    tokens = Codec().encode(read_midi(HERE / REAL))
    doc = {
        "comment": (
            "Token ids of tests/data/bwv10.7.mid: tunesmith.data.midi.read_midi (default "
            "ReadConfig) then Codec().encode (default CodecConfig, no BOS/EOS). Written by "
            "tests/data/make_cases.py --update-reference. Change it only deliberately, when the "
            "token representation is meant to change."
        ),
        "file": REAL,
        "tokens": [int(t) for t in tokens],
    }
    (HERE / REFERENCE).write_text(json.dumps(doc, indent=None) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-reference", action="store_true", help=f"rewrite {REFERENCE}")
    args = parser.parse_args()
    write_cases()
    write_real()
    if args.update_reference:
        write_reference()


if __name__ == "__main__":
    main()
