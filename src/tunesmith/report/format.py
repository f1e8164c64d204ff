"""Turning report.json values into escaped HTML text: numbers, shares, data URIs.

report.json carries NaN as null, and a hand-edited or older report may lack a key or hold a
string where a number belongs: every helper here shows such a value as a dash instead of
failing.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from typing import Any

DASH = "–"


def esc(value: Any) -> str:
    """``value`` as text, HTML-escaped (quotes too, so it is safe inside an attribute)."""
    return html.escape(str(value), quote=True)


def finite(value: Any) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def num(value: Any, digits: int = 3) -> str:
    """Fixed-point with ``digits`` decimals (``0.700``), or a dash."""
    v = finite(value)
    return DASH if v is None else f"{v:.{digits}f}"


def sig(value: Any, digits: int = 3) -> str:
    """``digits`` significant digits (``12.4``, ``0.0312``), or a dash."""
    v = finite(value)
    return DASH if v is None else f"{v:.{digits}g}"


def pct(value: Any) -> str:
    """A share in [0, 1] as a whole percentage (``64%``), or a dash."""
    v = finite(value)
    return DASH if v is None else f"{v:.0%}"


def mean_std(mean: Any, std: Any) -> str:
    """``mean ± std`` (3 and 2 significant digits, as the CLI prints them), or a dash."""
    if finite(mean) is None:
        return DASH
    return f"{sig(mean, 3)} ± {sig(std, 2)}"


def get(obj: Any, *keys: Any) -> Any:
    """``obj[k1][k2]...``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def data_uri(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...``: embeds a file in the page, so it needs nothing beside it."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def img(png: bytes, alt: str) -> str:
    """An ``<img>`` holding a PNG as a data URI."""
    return f'<img src="{data_uri(png, "image/png")}" alt="{esc(alt)}">'


def figure(inner: str, caption: str) -> str:
    """A ``<figure>`` with a caption; ``caption`` is HTML (escape its parts before)."""
    return f"<figure>{inner}<figcaption>{caption}</figcaption></figure>"


def note(text: str, kind: str = "note") -> str:
    """A highlighted box; ``text`` is HTML (escape its parts before)."""
    return f'<p class="{esc(kind)}">{text}</p>'


def requested_lines(report: Mapping[str, Any]) -> list[str]:
    """Plain-text lines of requested against achieved (``report["requested"]``), one a control."""
    r = get(report, "requested")
    if not isinstance(r, Mapping):
        return []
    lines = []
    d = get(r, "density")
    if isinstance(d, Mapping):
        asked = ", ".join(sig(v, 3) for v in get(d, "requested_by_quarter") or [])
        got = ", ".join(sig(v, 3) for v in get(d, "achieved_by_quarter") or [])
        corr = get(d, "correlation")
        lines.append(
            f"density {get(d, 'requested')} notes/s: by quarter of the piece asked {asked}, got "
            f"{got}; mean error {pct(get(d, 'mean_abs_error'))}"
            + (f", correlation {num(corr, 2)}" if finite(corr) is not None else "")
        )
    k = get(r, "key")
    if isinstance(k, Mapping):
        line = (
            f"key {get(k, 'key') or get(k, 'requested')}: pitch-class distance to it "
            f"{num(get(k, 'composed', 'distance'), 2)} (real test pieces "
            f"{num(get(k, 'real', 'distance'), 2)})"
        )
        if get(k, "key"):
            line += (
                f"; in that key {pct(get(k, 'composed', 'in_key'))} (real test pieces "
                f"{pct(get(k, 'real', 'in_key'))})"
            )
        lines.append(line)
    st = get(r, "style")
    if isinstance(st, Mapping):
        if get(st, "note"):
            lines.append(f"style {get(st, 'requested')}: {get(st, 'note')}")
        else:
            lines.append(
                f"style {get(st, 'requested')}: {pct(get(st, 'assigned_to_requested'))} of the "
                "pieces assigned to it by a style classifier trained on the real training "
                f"pieces ({pct(get(st, 'classifier_accuracy_on_real_test'))} right on real "
                "test pieces)"
            )
    return lines
