"""The report's "Listen" section: a piano roll of each shown piece, with an audio player when
FluidSynth and a SoundFont are installed, else the instructions to get them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tunesmith.data.midi import read_midi
from tunesmith.errors import EmptyScoreError, MidiReadError
from tunesmith.report import plots
from tunesmith.report.audio import (
    INSTALL,
    MAX_SECONDS,
    SOUNDFONT_ENV,
    AudioUnavailable,
    RenderError,
    Synth,
    find_synth,
    render_notes,
)
from tunesmith.report.format import data_uri, esc, figure, get, img, note, num
from tunesmith.report.sections import resolve

AUDIO_DIR = "audio"  # rendered files are kept here, beside report.html, for use outside it

_TITLES = {
    "best": "Best-scored composed piece",
    "worst": "Worst-scored composed piece",
    "real": "A real piece",
}


def pieces(report: Mapping[str, Any], out_dir: Path, audio: bool = True) -> str:
    """Every entry of report.json's ``shown`` list as a piano roll (and a player), in order."""
    shown = [e for e in (get(report, "shown") or []) if isinstance(e, Mapping)]
    synth, parts = None, []
    if audio:
        try:
            synth = find_synth()
        except AudioUnavailable as e:
            parts.append(note(enable_audio(str(e), out_dir), "warn"))
    else:
        parts.append(note("Audio players were turned off when this page was built."))
    if not shown:
        parts.append(note("report.json shows no pieces."))
    for i, entry in enumerate(shown):
        parts.append(_piece(entry, i, out_dir, synth))
    return f'<section id="pieces"><h2>Listen</h2>{"".join(parts)}</section>'


def enable_audio(reason: str, out_dir: Path) -> str:
    """What the page says when audio is unavailable: why, and exactly how to enable it."""
    return (
        f"Audio players are off: {esc(reason)}. To hear the pieces here, install FluidSynth and "
        f"a General MIDI SoundFont: <code>{esc(INSTALL)}</code> (Debian/Ubuntu, as root; or "
        "<code>scripts/system-deps.sh audio</code>), or set "
        f"<code>{SOUNDFONT_ENV}=/path/to.sf2</code> to a SoundFont you have. Then rebuild this "
        f"page: <code>python -m tunesmith.report {esc(out_dir)}</code>."
    )


def title(entry: Mapping[str, Any]) -> str:
    """How a shown piece is introduced (HTML), from its role and set."""
    role = str(entry.get("role"))
    return _TITLES.get(role) or f"{esc(role)} ({esc(entry.get('set'))})"


def _piece(entry: Mapping[str, Any], index: int, out_dir: Path, synth: Synth | None) -> str:
    caption = (
        f"<strong>{title(entry)}</strong> · score <strong>{num(entry.get('score'))}</strong> · "
        f"{esc(entry.get('set'))}: <code>{esc(entry.get('file'))}</code>"
    )
    path = resolve(out_dir, entry.get("file"))
    if path is None:
        return figure(note("report.json names no file for this piece."), caption)
    try:
        notes = read_midi(path)
    except (MidiReadError, EmptyScoreError) as e:
        return figure(note(f"Cannot draw it: {esc(e)}"), caption)
    roll = plots.piano_roll_png(notes, mark_seconds=MAX_SECONDS if synth else None)
    inner = img(roll, f"piano roll: {title(entry)}")
    if synth is not None:
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", f"{index + 1:02d}_{entry.get('role')}")
        try:
            rendered = render_notes(notes, out_dir / AUDIO_DIR / stem, synth=synth)
        except (RenderError, OSError) as e:
            inner += note(f"Audio failed: {esc(e)}", "warn")
        else:
            uri = data_uri(rendered.read_bytes(), synth.format.mime)
            cut = f" (first {MAX_SECONDS:.0f} s)" if notes.duration > MAX_SECONDS else ""
            inner += (
                f'<div class="player"><audio controls preload="metadata" src="{uri}">'
                f"</audio><span>{esc(rendered.name)}{cut}</span></div>"
            )
    return figure(inner, caption)
