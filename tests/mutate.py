"""Hostile MIDI files made by mutating real ones, for the fuzz tests (stdlib only, no I/O).

:func:`mutants` takes a few real MIDI files and returns about 300 named variants, each broken or
stretched in one way that a reader meets in the wild or that someone could craft on purpose:
noise (bit flips, overwritten, inserted and deleted bytes, truncation anywhere, inside the header
and inside a variable-length quantity), chunk lengths that lie, junk chunks and trailing junk,
odd header fields (formats, track counts, divisions 0 and 1, SMPTE timing, an MThd longer than 6
bytes that readers must skip), extreme tempos and delta times (0 and 1 µs per quarter, tick sums
past 2**31 and 2**32, over-long VLQs), malformed events (data bytes over 127, broken running
status, sysex and meta lengths past the chunk, undefined status bytes, no end of track), strange
notes (no note-offs, offs before ons, 1,000 notes on one tick, zero length, velocity 0, drums
only, a pedal never released, a 10-hour note, hours of silence) and sheer size (a million notes,
50 MB, an empty file, a bare "MThd"). Some are legal MIDI that a reader must accept; the rest it
must refuse with a clear error, never crash, hang or return impossible notes. Names are
``<kind>-<n>`` so a failure names its kind (:data:`KINDS`). The output depends only on the
originals' bytes and the seed: each kind draws from its own generator, seeded by (seed, kind), so
adding a kind leaves every other kind's files unchanged.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from dataclasses import dataclass

VLQ_MAX = 0x0FFFFFFF  # the largest value a legal (at most 4-byte) variable-length quantity holds
EOT = b"\xff\x2f\x00"  # end-of-track meta event
DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
SUSTAIN = 64  # controller number of the sustain pedal

Event = tuple[int, bytes]  # (absolute tick, the whole message, always with its status byte)
ONE_BYTE = [bytes([n]) for n in range(0x80)]


# -- reading and writing the chunk and event structure ------------------------------------------


def read_vlq(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the variable-length quantity at ``pos``."""
    value = 0
    for end in range(pos, min(pos + 4, len(buf))):
        value = value << 7 | buf[end] & 0x7F
        if buf[end] < 0x80:
            return value, end + 1
    raise ValueError(f"bad variable-length quantity at byte {pos}")


def vlq(n: int) -> bytes:
    """``n`` as a variable-length quantity (longer than 4 bytes if ``n > VLQ_MAX``)."""
    if n < 0x80:
        return ONE_BYTE[n]  # most delta times: a table keeps serialising fast
    out = bytearray([n & 0x7F])
    while n := n >> 7:
        out.append(n & 0x7F | 0x80)
    return bytes(reversed(out))


def chunk(tag: bytes, body: bytes) -> bytes:
    return tag + struct.pack(">I", len(body)) + body


def chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of each whole chunk; ``data[start:end]`` includes its 8-byte head."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        end = pos + 8 + struct.unpack(">I", data[pos + 4 : pos + 8])[0]
        if end > len(data):
            break
        out.append((data[pos : pos + 4], pos, end))
        pos = end
    return out


def scan_track(body: bytes) -> list[tuple[int, int, int, bytes]]:
    """(delta start, event start, delta, message) per event of an MTrk body; running status is
    made explicit in the message and, as most readers allow, survives meta and sysex events."""
    out, pos, running = [], 0, None
    while pos < len(body):
        at = pos
        delta, pos = read_vlq(body, pos)
        head = pos
        status = body[pos]
        if status & 0x80:
            pos += 1
        elif running is None:
            raise ValueError(f"data byte without a status at byte {pos}")
        else:
            status = running
        if status == 0xFF:
            length, pos = read_vlq(body, pos + 1)
            msg = body[head : pos + length]
            pos += length
        elif status in (0xF0, 0xF7):
            length, pos = read_vlq(body, pos)
            msg = body[head : pos + length]
            pos += length
        elif status < 0xF0:
            running = status
            msg = bytes([status]) + body[pos : pos + DATA_BYTES[status & 0xF0]]
            pos += DATA_BYTES[status & 0xF0]
        else:
            raise ValueError(f"status {status:#x} at byte {head}")
        if pos > len(body):
            raise ValueError(f"event at byte {head} runs past the track")
        out.append((at, head, delta, msg))
    return out


@dataclass
class Midi:
    """A parsed standard MIDI file: format, division (ticks per quarter) and tracks."""

    format: int
    division: int
    tracks: list[list[Event]]

    def copy(self) -> Midi:
        return Midi(self.format, self.division, [list(t) for t in self.tracks])

    @property
    def tpq(self) -> int:
        """Ticks per quarter note (480 as a stand-in for SMPTE or zero divisions)."""
        return self.division if 0 < self.division < 0x8000 else 480


def parse(data: bytes) -> Midi:
    """Parse a valid MIDI file; ValueError if it is not one (originals must be real MIDI)."""
    found = chunks(data)
    if not found or found[0][0] != b"MThd":
        raise ValueError("no MThd chunk")
    fmt, _, division = struct.unpack(">HHH", data[8:14])
    tracks = []
    for tag, start, end in found[1:]:
        if tag == b"MTrk":
            tick, events = 0, []
            for _, _, delta, msg in scan_track(data[start + 8 : end]):
                tick += delta
                events.append((tick, msg))
            tracks.append(events)
    return Midi(fmt, division, tracks)


def pieces(events: list[Event], running: bool = False) -> list[tuple[bytes, bytes, bytes]]:
    """(delta VLQ, status byte or b"", the rest) per event. With ``running``, a channel event
    that repeats the previous status omits it; meta and sysex events cancel running status, as
    the standard says."""
    out, tick, last = [], 0, None
    for t, msg in events:
        assert t >= tick, "events must be in time order"
        status = msg[:1]
        if msg[0] >= 0xF0:
            last = None
        elif running and msg[0] == last:
            status = b""
        else:
            last = msg[0]
        out.append((vlq(t - tick), status, msg[1:]))
        tick = t
    return out


def joined(parts: list[tuple[bytes, bytes, bytes]]) -> bytes:
    return b"".join([x for p in parts for x in p])


def track_body(events: list[Event]) -> bytes:
    """An MTrk body with every status written out (the fast path of ``joined(pieces(...))``)."""
    out, tick = [], 0
    for t, msg in events:
        assert t >= tick, "events must be in time order"
        out += (vlq(t - tick), msg)
        tick = t
    return b"".join(out)


def assemble(midi: Midi, bodies: list[bytes]) -> bytes:
    """A whole file from the header fields of ``midi`` and MTrk bodies."""
    parts = [chunk(b"MThd", struct.pack(">HHH", midi.format, len(bodies), midi.division))]
    for body in bodies:
        parts += (b"MTrk", struct.pack(">I", len(body)), body)
    return b"".join(parts)  # one copy of the data, which matters for the 50 MB file


def build(midi: Midi, running: bool = False) -> bytes:
    if running:
        return assemble(midi, [joined(pieces(t, running=True)) for t in midi.tracks])
    return assemble(midi, [track_body(t) for t in midi.tracks])


def ordered(events: list[Event]) -> list[Event]:
    """Events in time order (stable), with one end-of-track last, at the latest tick."""
    body = sorted((e for e in events if e[1] != EOT), key=lambda e: e[0])
    if len(body) < len(events):
        body.append((max(t for t, _ in events), EOT))
    return body


def is_on(msg: bytes) -> bool:
    return msg[0] & 0xF0 == 0x90 and msg[2] > 0


def is_pedal(msg: bytes) -> bool:
    return msg[0] & 0xF0 == 0xB0 and msg[1] == SUSTAIN


def is_off(msg: bytes) -> bool:
    return msg[0] & 0xF0 == 0x80 or (msg[0] & 0xF0 == 0x90 and msg[2] == 0)


def note_pairs(events: list[Event]) -> dict[int, int]:
    """Index of each note-on -> index of the note-off that ends it (first in, first out per
    channel and pitch, as most readers pair them)."""
    waiting: dict[tuple[int, int], list[int]] = {}
    pairs = {}
    for i, (_, msg) in enumerate(events):
        key = (msg[0] & 0x0F, msg[1]) if len(msg) > 2 else (-1, -1)
        if is_on(msg):
            waiting.setdefault(key, []).append(i)
        elif is_off(msg) and waiting.get(key):
            pairs[waiting[key].pop(0)] = i
    return pairs


def busiest(midi: Midi) -> int:
    """Index of the track with the most note-ons: where note mutations bite."""
    return max(range(len(midi.tracks)), key=lambda i: sum(is_on(m) for _, m in midi.tracks[i]))


def first_notes(midi: Midi, count: int) -> list[tuple[int, int]]:
    """(pitch, velocity) of the first ``count`` note-ons of the busiest track."""
    found = [(m[1], m[2]) for _, m in midi.tracks[busiest(midi)] if is_on(m)][:count]
    return found or [(60, 80)]


def tempo(us_per_quarter: int) -> bytes:
    return b"\xff\x51\x03" + us_per_quarter.to_bytes(3, "big")


def first_tempo(midi: Midi) -> int:
    found = [m for t in midi.tracks for _, m in t if m[:3] == b"\xff\x51\x03"]
    return int.from_bytes(found[0][3:6], "big") if found else 500_000


# -- the mutations -------------------------------------------------------------------------------


@dataclass
class Case:
    """What a mutation gets: its random generator, an original and which copy ``n`` it makes."""

    rng: random.Random
    data: bytes
    parsed: Midi
    n: int

    @property
    def midi(self) -> Midi:
        """A fresh copy of the parsed original, free to edit."""
        return self.parsed.copy()


def flip(c: Case, bits: int) -> bytes:
    out = bytearray(c.data)
    for _ in range(bits):
        i = c.rng.randrange(len(out) * 8)
        out[i // 8] ^= 1 << i % 8
    return bytes(out)


def overwrite(c: Case) -> bytes:
    out = bytearray(c.data)
    for _ in range(c.rng.randint(1, 8)):
        out[c.rng.randrange(len(out))] = c.rng.randrange(256)
    return bytes(out)


def insert(c: Case) -> bytes:
    at = c.rng.randrange(len(c.data) + 1)
    return c.data[:at] + c.rng.randbytes(c.rng.randint(1, 4)) + c.data[at:]


def delete(c: Case) -> bytes:
    at = c.rng.randrange(len(c.data))
    return c.data[:at] + c.data[at + c.rng.randint(1, 4) :]


# Cut points in MThd's tag, length, format, track count and division, then in the first MTrk's
# tag and length; 4 ("MThd" alone) and 14 (the header alone) are kinds of their own.
HEADER_CUTS = (1, 2, 6, 9, 11, 13, 16, 20)


def truncate_in_vlq(c: Case) -> bytes:
    inside = []  # positions between the bytes of multi-byte delta times
    for tag, start, end in chunks(c.data):
        if tag == b"MTrk":
            for at, head, _, _ in scan_track(c.data[start + 8 : end]):
                inside.extend(range(start + 8 + at + 1, start + 8 + head))
    return c.data[: c.rng.choice(inside)]


def lie_about_length(c: Case, which: str, how: str) -> bytes:
    """Set the length of MThd or of a random MTrk to 0, too small, past the end, or 2**32 - 1."""
    found = [ch for ch in chunks(c.data) if ch[0] == which.encode()]
    _, start, end = found[0] if which == "MThd" else c.rng.choice(found)
    size = end - start - 8
    if how == "zero":
        lie = 0
    elif how == "small":
        lie = c.rng.randrange(1, size)
    elif how == "big":
        lie = len(c.data) - start - 8 + c.rng.randint(1, 1000)
    else:
        lie = 0xFFFFFFFF
    return c.data[: start + 4] + struct.pack(">I", lie) + c.data[start + 8 :]


JUNK_TAGS = (b"XFIH", b"MThd", b"mtrk", b"\x00\x00\x00\x00", b"RIFF", b"MTr\xff")


def junk_chunk(c: Case) -> bytes:
    at = c.rng.choice([end for _, _, end in chunks(c.data)])
    body = c.rng.randbytes(c.rng.randrange(65))
    return c.data[:at] + chunk(JUNK_TAGS[c.n % len(JUNK_TAGS)], body) + c.data[at:]


def trailing_junk(c: Case) -> bytes:
    size = c.rng.randint(1, 64)
    return c.data + (c.rng.randbytes(size) if c.n % 2 else bytes(size))


def header_field(c: Case, offset: int, value: int) -> bytes:
    """Replace a 16-bit header field: format at 8, track count at 10, division at 12."""
    return c.data[:offset] + struct.pack(">H", value) + c.data[offset + 2 :]


SMPTE = [(fps, tpf) for fps in (24, 25, 29, 30) for tpf in (4, 40, 80)]


def smpte(c: Case) -> bytes:
    fps, per_frame = SMPTE[c.n % len(SMPTE)]
    return header_field(c, 12, (256 - fps) << 8 | per_frame)  # high byte: -fps, two's complement


def long_header(c: Case) -> bytes:
    # Legal: a reader must take the 6 bytes it knows and skip the rest of MThd.
    return chunk(b"MThd", c.data[8:14] + c.rng.randbytes(4)) + c.data[14:]


def set_tempos(c: Case, message: bytes) -> bytes:
    """Every tempo event replaced by ``message`` (one added at 0 if the file has none)."""
    midi, found = c.midi, False
    for events in midi.tracks:
        for i, (t, msg) in enumerate(events):
            if msg[:2] == b"\xff\x51":
                events[i], found = (t, message), True
    if not found:
        midi.tracks[0].insert(0, (0, message))
    return build(midi)


# Tempo events whose length is wrong: none of the 3 bytes, or 2 of them.
BAD_TEMPOS = (b"\xff\x51\x00", b"\xff\x51\x02\x07\xa1")


def insert_tempo(c: Case, us_per_quarter: int) -> bytes:
    midi = c.midi
    last = max(t for events in midi.tracks for t, _ in events)
    at = c.rng.randrange(1, max(last, 2))
    midi.tracks[0] = ordered([*midi.tracks[0], (at, tempo(us_per_quarter))])
    return build(midi)


def huge_deltas(c: Case, count: int) -> bytes:
    """``count`` random delta times of the busiest track set to VLQ_MAX: 8 of them pass 2**31
    ticks, 16 pass 2**32."""
    midi = c.midi
    i = busiest(midi)
    events = midi.tracks[i]
    deltas = [t - p for (t, _), p in zip(events, [0, *(t for t, _ in events)])]
    for k in c.rng.sample(range(len(events)), min(count, len(events))):
        deltas[k] = VLQ_MAX
    tick, out = 0, []
    for d, (_, msg) in zip(deltas, events):
        tick += d
        out.append((tick, msg))
    midi.tracks[i] = out
    return build(midi)


def long_vlq(c: Case) -> bytes:
    """A 5-byte delta time: the same value padded with 0x80 bytes, or 2**35 - 1."""
    midi = c.midi
    bodies = [pieces(t) for t in midi.tracks]
    i = busiest(midi)
    k = c.rng.randrange(len(bodies[i]))
    delta, status, rest = bodies[i][k]
    delta = b"\x80" * (5 - len(delta)) + delta if c.n % 2 == 0 else b"\x8f\xff\xff\xff\x7f"
    bodies[i][k] = (delta, status, rest)
    return assemble(midi, [joined(b) for b in bodies])


def all_deltas_zero(c: Case) -> bytes:
    midi = c.midi
    midi.tracks = [[(0, msg) for _, msg in events] for events in midi.tracks]
    return build(midi)


def data_high_bit(c: Case) -> bytes:
    """One note's pitch (even n) or velocity (odd n) with its high bit set: 128..255."""
    midi = c.midi
    where = [
        (i, k)
        for i, events in enumerate(midi.tracks)
        for k, (_, m) in enumerate(events)
        if m[0] & 0xE0 == 0x80  # note-ons and note-offs
    ]
    i, k = c.rng.choice(where)
    t, msg = midi.tracks[i][k]
    byte = 1 + c.n % 2
    midi.tracks[i][k] = (t, msg[:byte] + bytes([msg[byte] | 0x80]) + msg[byte + 1 :])
    return build(midi)


def broken_running_status(c: Case) -> bytes:
    """A status byte removed: from the first channel event (data with no status before it, even
    n) or where the status changes (the data are read under the previous one, odd n)."""
    midi = c.midi
    bodies = [pieces(t, running=True) for t in midi.tracks]
    i = busiest(midi)
    with_status = [k for k, (_, s, _) in enumerate(bodies[i]) if s and s[0] < 0xF0]
    k = with_status[0] if c.n % 2 == 0 else c.rng.choice(with_status[1:])
    delta, _, rest = bodies[i][k]
    bodies[i][k] = (delta, b"", rest)
    return assemble(midi, [joined(b) for b in bodies])


def overlong_event(c: Case, head: bytes, huge: bool) -> bytes:
    """A sysex or text meta event whose length runs past the end of its chunk (or is VLQ_MAX),
    inserted at a random place of a random track."""
    midi = c.midi
    i = c.rng.randrange(len(midi.tracks))
    parts = [b"".join(p) for p in pieces(midi.tracks[i])]
    k = c.rng.randrange(len(parts) + 1)
    length = VLQ_MAX if huge else sum(map(len, parts[k:])) + 4 + c.rng.randint(1, 100)
    parts.insert(k, b"\x00" + head + vlq(length) + b"tune")
    bodies = [track_body(t) for t in midi.tracks]
    bodies[i] = b"".join(parts)
    return assemble(midi, bodies)


UNDEFINED = (0xF4, 0xF5, 0xF9, 0xFD)


def unknown_status(c: Case) -> bytes:
    midi = c.midi
    i = c.rng.randrange(len(midi.tracks))
    parts = [b"".join(p) for p in pieces(midi.tracks[i])]
    parts.insert(c.rng.randrange(len(parts) + 1), bytes([0, UNDEFINED[c.n % len(UNDEFINED)]]))
    bodies = [track_body(t) for t in midi.tracks]
    bodies[i] = b"".join(parts)
    return assemble(midi, bodies)


def no_end_of_track(c: Case) -> bytes:
    """End-of-track removed from every track (even n) or from the last only (odd n)."""
    midi = c.midi
    for events in midi.tracks if c.n % 2 == 0 else midi.tracks[-1:]:
        events[:] = [e for e in events if e[1] != EOT]
    return build(midi)


def map_tracks(c: Case, edit: Callable[[list[Event]], list[Event]]) -> bytes:
    midi = c.midi
    midi.tracks = [edit(events) for events in midi.tracks]
    return build(midi)


def move_offs(events: list[Event], before: bool) -> list[Event]:
    """Each paired note-off moved to its note-on's tick, just before it or just after it."""
    pairs = note_pairs(events)
    offs = set(pairs.values())
    out = []
    for k, (t, msg) in enumerate(events):
        if k in offs:
            continue
        if k in pairs and before:
            out.append((t, events[pairs[k]][1]))
        out.append((t, msg))
        if k in pairs and not before:
            out.append((t, events[pairs[k]][1]))
    return out


def with_message(events: list[Event], change: Callable[[bytes], bytes]) -> list[Event]:
    return [(t, change(m)) for t, m in events]


def thousand_notes(c: Case) -> bytes:
    """1,000 random notes struck on the tick of a random note, all released a quarter later."""
    midi = c.midi
    i = busiest(midi)
    t, msg = c.rng.choice([e for e in midi.tracks[i] if is_on(e[1])])
    ch = msg[0] & 0x0F
    strikes = [(c.rng.randrange(128), c.rng.randint(1, 127)) for _ in range(1000)]
    ons = [(t, bytes([0x90 | ch, pitch, velocity])) for pitch, velocity in strikes]
    offs = [(t + midi.tpq, bytes([0x80 | ch, m[1], 0])) for _, m in ons]
    midi.tracks[i] = ordered(midi.tracks[i] + ons + offs)
    return build(midi)


def pedal_stuck(c: Case) -> bytes:
    """The sustain pedal pressed and never released (pressed at 0 if the file has no pedal)."""
    midi = c.midi
    down = False
    for events in midi.tracks:
        events[:] = [(t, m) for t, m in events if not (is_pedal(m) and m[2] < 64)]
        down = down or any(is_pedal(m) for _, m in events)
    if not down:
        i = busiest(midi)
        ch = next(m[0] & 0x0F for _, m in midi.tracks[i] if is_on(m))
        midi.tracks[i].insert(0, (0, bytes([0xB0 | ch, SUSTAIN, 127])))
    return build(midi)


def one_track(c: Case, events: list[Event]) -> bytes:
    """A format-0 file of one track, at the original's resolution."""
    return build(Midi(0, c.parsed.tpq, [ordered([*events, (0, EOT)])]))


def ten_hour_note(c: Case) -> bytes:
    """One note held for 10 hours: at the slowest tempo in one delta (even n), or at 120 bpm
    with an hourly marker, since one delta cannot span 10 hours there (odd n)."""
    tpq = c.parsed.tpq
    pitch, velocity = first_notes(c.parsed, 1)[0]
    on, off = bytes([0x90, pitch, velocity]), bytes([0x80, pitch, 0])
    if c.n % 2 == 0:
        ticks = round(36_000e6 / 0xFFFFFF * tpq)
        return one_track(c, [(0, tempo(0xFFFFFF)), (0, on), (ticks, off)])
    hour = 7_200 * tpq  # 120 bpm: two quarters a second
    markers = [(h * hour, b"\xff\x06" + vlq(6) + f"hour{h:02}".encode()) for h in range(1, 10)]
    return one_track(c, [(0, tempo(500_000)), (0, on), *markers, (10 * hour, off)])


def long_silence(c: Case) -> bytes:
    """Silence of VLQ_MAX ticks (even n; 3.7 hours for 10,080 ticks a quarter at 120 bpm), or of
    four of them through markers (odd n), then one note."""
    tpq = c.parsed.tpq
    pitch, velocity = first_notes(c.parsed, 1)[0]
    steps = 1 if c.n % 2 == 0 else 4
    markers = [(k * VLQ_MAX, b"\xff\x06\x01m") for k in range(1, steps)]
    start = steps * VLQ_MAX
    on, off = bytes([0x90, pitch, velocity]), bytes([0x80, pitch, 0])
    first = (0, tempo(first_tempo(c.parsed)))
    return one_track(c, [first, *markers, (start, on), (start + tpq, off)])


def million_notes(c: Case) -> bytes:
    """One track of 1,000,000 short notes, the original's first pitches over and over, each an
    eighth of a quarter (8.7 hours in all at 120 bpm), written with running status."""
    notes = first_notes(c.parsed, 16)
    # per note: delta 0, pitch, velocity; delta 60, pitch, velocity 0 (a note-off)
    pattern = b"".join(bytes([0, p, v, 60, p, 0]) for p, v in notes)
    track = b"\x00" + tempo(500_000) + b"\x00\x90" + (pattern * (1_000_000 // len(notes)))[1:]
    return assemble(Midi(0, 480, []), [track + b"\x00" + EOT])


def fifty_megabytes(c: Case) -> bytes:
    """The original with a 50 MB sysex message at the start of its busiest track."""
    midi = c.midi
    bodies = [track_body(t) for t in midi.tracks]
    size = 50_000_000
    i = busiest(midi)
    bodies[i] = b"".join([b"\x00\xf0", vlq(size), bytes(size - 1), b"\xf7", bodies[i]])
    return assemble(midi, bodies)


def _on_to_velocity_zero(m: bytes) -> bytes:
    return m[:2] + b"\x00" if m[0] & 0xF0 == 0x90 else m


def _to_drums(m: bytes) -> bytes:
    return bytes([m[0] & 0xF0 | 9]) + m[1:] if m[0] < 0xF0 else m


# (kind, how many, how): every kind's mutants are made by calling ``how`` with a Case.
TABLE: list[tuple[str, int, Callable[[Case], bytes]]] = [
    # noise
    ("flip1", 15, lambda c: flip(c, 1)),
    ("flip4", 15, lambda c: flip(c, 4)),
    ("flip32", 15, lambda c: flip(c, 32)),
    ("overwrite", 14, overwrite),
    ("insert", 12, insert),
    ("delete", 12, delete),
    ("truncate", 20, lambda c: c.data[: c.rng.randrange(1, len(c.data))]),
    ("truncate_header", len(HEADER_CUTS), lambda c: c.data[: HEADER_CUTS[c.n]]),
    ("truncate_vlq", 8, truncate_in_vlq),
    # chunk lengths and chunks
    ("mthd_len_zero", 2, lambda c: lie_about_length(c, "MThd", "zero")),
    ("mthd_len_small", 2, lambda c: lie_about_length(c, "MThd", "small")),
    ("mthd_len_big", 2, lambda c: lie_about_length(c, "MThd", "big")),
    ("mthd_len_max", 2, lambda c: lie_about_length(c, "MThd", "max")),
    ("mtrk_len_zero", 4, lambda c: lie_about_length(c, "MTrk", "zero")),
    ("mtrk_len_small", 4, lambda c: lie_about_length(c, "MTrk", "small")),
    ("mtrk_len_big", 4, lambda c: lie_about_length(c, "MTrk", "big")),
    ("mtrk_len_max", 4, lambda c: lie_about_length(c, "MTrk", "max")),
    ("junk_chunk", len(JUNK_TAGS), junk_chunk),
    ("trailing_junk", 4, trailing_junk),
    # header fields
    ("format_0", 2, lambda c: header_field(c, 8, 0)),
    ("format_1", 2, lambda c: header_field(c, 8, 1)),
    ("format_2", 2, lambda c: header_field(c, 8, 2)),
    ("format_3", 2, lambda c: header_field(c, 8, 3)),
    ("format_ffff", 2, lambda c: header_field(c, 8, 0xFFFF)),
    ("ntracks_0", 2, lambda c: header_field(c, 10, 0)),
    ("ntracks_1", 2, lambda c: header_field(c, 10, 1)),
    ("ntracks_more", 2, lambda c: header_field(c, 10, len(c.parsed.tracks) + 1)),
    ("ntracks_max", 2, lambda c: header_field(c, 10, 0xFFFF)),
    ("division_0", 2, lambda c: header_field(c, 12, 0)),
    ("division_1", 2, lambda c: header_field(c, 12, 1)),
    ("division_7fff", 2, lambda c: header_field(c, 12, 0x7FFF)),
    ("smpte", len(SMPTE), smpte),
    ("mthd_len_10", 3, long_header),
    # tempo
    ("tempo_0", 3, lambda c: set_tempos(c, tempo(0))),
    ("tempo_1", 3, lambda c: set_tempos(c, tempo(1))),
    ("tempo_max", 3, lambda c: set_tempos(c, tempo(0xFFFFFF))),
    ("tempo_bad_length", len(BAD_TEMPOS), lambda c: set_tempos(c, BAD_TEMPOS[c.n])),
    ("tempo_insert_1", 3, lambda c: insert_tempo(c, 1)),
    ("tempo_insert_max", 3, lambda c: insert_tempo(c, 0xFFFFFF)),
    # delta times
    ("delta_huge_1", 3, lambda c: huge_deltas(c, 1)),
    ("delta_huge_3", 3, lambda c: huge_deltas(c, 3)),
    ("delta_huge_8", 3, lambda c: huge_deltas(c, 8)),
    ("delta_huge_16", 3, lambda c: huge_deltas(c, 16)),
    ("delta_long_vlq", 4, long_vlq),
    ("delta_all_zero", 3, all_deltas_zero),
    # events
    ("data_high_bit", 8, data_high_bit),
    ("running_status_broken", 8, broken_running_status),
    ("sysex_past_chunk", 4, lambda c: overlong_event(c, b"\xf0", huge=False)),
    ("sysex_len_max", 2, lambda c: overlong_event(c, b"\xf0", huge=True)),
    ("meta_past_chunk", 4, lambda c: overlong_event(c, b"\xff\x01", huge=False)),
    ("meta_len_max", 2, lambda c: overlong_event(c, b"\xff\x01", huge=True)),
    ("unknown_status", 8, unknown_status),
    ("no_end_of_track", 4, no_end_of_track),
    # notes
    ("no_note_offs", 3, lambda c: map_tracks(c, lambda e: [x for x in e if not is_off(x[1])])),
    ("offs_before_ons", 3, lambda c: map_tracks(c, lambda e: move_offs(e, before=True))),
    ("zero_length_notes", 3, lambda c: map_tracks(c, lambda e: move_offs(e, before=False))),
    ("thousand_notes_one_tick", 3, thousand_notes),
    ("velocities_0", 3, lambda c: map_tracks(c, lambda e: with_message(e, _on_to_velocity_zero))),
    ("all_drums", 3, lambda c: map_tracks(c, lambda e: with_message(e, _to_drums))),
    ("pedal_stuck", 3, pedal_stuck),
    ("ten_hour_note", 2, ten_hour_note),
    ("long_silence", 2, long_silence),
    # size
    ("million_notes", 1, million_notes),
    ("fifty_mb", 1, fifty_megabytes),
    ("empty", 1, lambda c: b""),
    ("only_mthd", 1, lambda c: b"MThd"),
    ("header_only", 1, lambda c: c.data[:14]),
]
KINDS = [kind for kind, _, _ in TABLE]


def mutants(originals: list[bytes], seed: int = 0) -> list[tuple[str, bytes]]:
    """About 300 ``(name, data)`` pairs, each name ``<kind>-<n>``, each file an original with
    one hostile change (see the module docstring). The same originals and seed always give the
    same bytes. ValueError if there is no original or one is not valid MIDI."""
    if not originals:
        raise ValueError("mutants() needs at least one original MIDI file")
    parsed = []
    for i, data in enumerate(originals):
        try:
            parsed.append(parse(data))
        except (ValueError, IndexError, struct.error) as e:
            raise ValueError(f"original {i} is not valid MIDI: {e}") from e
    out = []
    for kind, count, how in TABLE:
        rng = random.Random(f"{seed}:{kind}")
        for n in range(count):
            i = rng.randrange(len(originals))
            out.append((f"{kind}-{n}", how(Case(rng, originals[i], parsed[i], n))))
    return out
