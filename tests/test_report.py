"""report.html from an evaluation folder built of real chorales: self-contained, faithful to
report.json, escaped, with audio when FluidSynth is installed, and clean in a real browser.

The folder stands in for ``tunesmith evaluate``'s output: real pieces copied from music21's
chorales, "composed" ones made by transposing and cutting real ones, random ones from the
seed's random-note generator, real statistics, and scores from a fixed list (the page's job is
to show report.json's numbers, wherever they came from).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from tunesmith.data.midi import read_midi, write_midi
from tunesmith.data.negatives import random_notes
from tunesmith.data.notes import Notes
from tunesmith.judging.stats import STATISTICS, compare_sets, set_statistics
from tunesmith.report import audio
from tunesmith.report.__main__ import main
from tunesmith.report.html import write_html
from tunesmith.report.sections import resolve

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

EVIL = 'piece_<script>alert("x")'  # a file name that would run a script if not escaped
SCORES = {
    "composed": [0.93125, 0.41, 0.62, 0.18],
    "real": [0.97, 0.88, 0.91, 0.6],
    "random": [0.02, 0.1, 0.05, 0.51],
}
SYNTH_MISSING = "no fluidsynth or General MIDI SoundFont; run scripts/system-deps.sh audio"
BEST_OF = {
    "k": 4,
    "mean_before": 0.4321,
    "mean_after": 0.6789,
    "called_real_before": 0.25,
    "called_real_after": 0.75,
}


def _finite(obj: Any) -> Any:
    """NaN -> None, as ``tunesmith evaluate`` writes report.json."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _summary(scores: list[float]) -> dict[str, Any]:
    s = np.array(scores)
    q25, q75 = np.percentile(s, [25, 75])
    return {
        "scores": scores,
        "mean": float(s.mean()),
        "median": float(np.median(s)),
        "std": float(s.std()),
        "q25": float(q25),
        "q75": float(q75),
        "called_real": float(np.mean(s > 0.5)),
    }


def _eval_logs(out: Path) -> None:
    composer, critic = out / "runs" / "composer", out / "runs" / "critic"
    composer.mkdir(parents=True)
    critic.mkdir(parents=True)
    lines = []
    for i in range(1, 6):
        lines.append({"event": "step", "step": i * 100 - 50, "loss": 3.0 / i})
        lines.append(
            {
                "event": "eval",
                "step": i * 100,
                "elapsed": 2.0 * i,
                "train_loss": 3.1 / i,
                "valid_nll": 2.0 + 1.0 / i,
                "valid_ppl": math.exp(2.0 + 1.0 / i),
                "best": True,
            }
        )
    text = "".join(json.dumps(r) + "\n" for r in lines) + '{"event": "eval", "st'  # torn line
    (composer / "log.jsonl").write_text(text)
    records = [
        {
            "event": "eval",
            "step": s,
            "elapsed": s / 10,
            "train_loss": None if s == 50 else 0.7 / k,
            "valid_loss": 0.69 / k,
            "valid_acc": 0.5 + 0.1 * k,
            "valid_auc": 0.55 + 0.1 * k,
        }
        for k, s in enumerate((50, 100, 150, 200), start=1)
    ]
    (critic / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def make_evaluation(out: Path, midi_files: list[Path]) -> dict[str, Any]:
    """An evaluation folder from real chorales (see the module docstring); returns its report."""
    notes: dict[str, list[Notes]] = {"composed": [], "real": [], "random": []}
    files: dict[str, list[str]] = {"composed": [], "real": [], "random": []}
    for f in midi_files[:4]:
        (out / "real").mkdir(parents=True, exist_ok=True)
        shutil.copy(f, out / "real" / f.name)
        files["real"].append(f"real/{f.name}")
        notes["real"].append(read_midi(f))
    for i, f in enumerate(midi_files[4:8]):
        real = read_midi(f)
        cut = real.take(np.flatnonzero(real.start < 20.0))
        moved = Notes(cut.start, cut.end, cut.pitch + (i - 2), cut.velocity)
        name = f"composed/{EVIL if i == 0 else f'piece_{i + 1:03d}'}.mid"
        write_midi(moved, out / name)
        files["composed"].append(name)
        notes["composed"].append(moved)
    rng = np.random.default_rng(0)
    for i in range(4):
        name = f"random/random_{i + 1:03d}.mid"
        notes["random"].append(random_notes(rng, 80))
        write_midi(notes["random"][-1], out / name)
        files["random"].append(name)
    stats = {name: set_statistics(n) for name, n in notes.items()}
    _eval_logs(out)
    sets = {name: {"files": files[name], **_summary(SCORES[name])} for name in SCORES}
    report = {
        "tunesmith": "0.1.0",
        "created": "2026-11-29T04:00:00+0000",
        "settings": {
            "n": 4,
            "length": 1024,
            "temperature": 1.0,
            "top_k": 0,
            "top_p": 1.0,
            "seed": 0,
            "best_of": 4,
        },
        "composer": {"path": "runs/composer/best", "run": "runs/composer", "valid_nll": 2.2},
        # an absolute run directory, as a user may pass one
        "critic": {
            "path": str(out / "runs/critic/best"),
            "run": str(out / "runs/critic"),
            "temperature": 1.3,
            "test": {"mix": {"accuracy": 0.9712, "auc": 0.9934}},
        },
        "sets": sets,
        "statistics": {
            "labels": {k: {"label": v.label, "unit": v.unit} for k, v in STATISTICS.items()},
            "per_set": {name: {k: v.tolist() for k, v in s.items()} for name, s in stats.items()},
            "comparison": {
                "composed": compare_sets(stats["real"], stats["composed"]),
                "random": compare_sets(stats["real"], stats["random"]),
            },
        },
        "best_of": BEST_OF,
        "shown": [
            {"set": "composed", "role": "best", "file": files["composed"][0], "score": 0.93125},
            {"set": "composed", "role": "worst", "file": files["composed"][3], "score": 0.18},
            {"set": "real", "role": "real", "file": files["real"][1], "score": 0.88},
        ],
    }
    report = _finite(report)
    # An undefined value, as NaN statistics reach report.json: shown as a dash.
    report["statistics"]["comparison"]["random"]["stuck_notes"]["kl"] = None
    (out / "report.json").write_text(json.dumps(report, allow_nan=False))
    return report


def find_synth() -> audio.Synth | None:
    """FluidSynth and a SoundFont, or None; scripts/system-deps.sh installs them (tests never
    install system packages)."""
    try:
        return audio.find_synth()
    except audio.AudioUnavailable:
        return None


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory, bach_midi_files) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("evaluation")
    return out, make_evaluation(out, bach_midi_files)


@pytest.fixture(scope="module")
def synth() -> audio.Synth | None:
    return find_synth()


@pytest.fixture(scope="module")
def built(evaluation, synth) -> tuple[Path, str]:
    """report.html of the folder, with audio if the machine can have it."""
    out, _ = evaluation
    path = write_html(out)
    return out, path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def degraded(tmp_path_factory, evaluation) -> tuple[Path, str]:
    """report.html built with no audio tools to be found, no Critic run directory and an
    unreadable Composer log, and without best-of figures."""
    src, report = evaluation
    out = tmp_path_factory.mktemp("degraded") / "evaluation"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("report.html", "audio"))
    shutil.rmtree(out / "runs" / "critic")
    (out / "runs" / "composer" / "log.jsonl").write_bytes(b"\xff\xfe\x00garbage")
    report = {**report, "best_of": None}
    report["critic"] = {**report["critic"], "run": str(out / "runs" / "critic")}
    empty_bin = out.parent / "bin"
    empty_bin.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        # Real environment variables: the page's own lookup must come up empty.
        mp.setenv("TUNESMITH_SOUNDFONT", str(out / "no-such.sf2"))
        mp.setenv("PATH", str(empty_bin))
        path = write_html(out, report)
    return out, path.read_text(encoding="utf-8")


def _images(page: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", page)


def test_page_is_one_self_contained_file(built):
    out, page = built
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page
    assert "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(file:|/|\.\.?/)""", page)
    assert "<script" not in page  # the page runs no script; escaped names do not count
    images = _images(page)
    assert len(images) == 6  # two training curves, the histograms, three piano rolls
    for tag in images:
        uri = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', tag)
        assert uri, tag[:80]
        assert base64.b64decode(uri.group(1))[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.rglob(".*"))  # no temporary file or folder left behind


def test_page_shows_report_numbers(built, evaluation):
    _, page = built
    _, report = evaluation
    composed = report["sets"]["composed"]
    assert f"{composed['mean']:.3f}" == "0.535"
    assert "<strong>0.535</strong>" in page  # the composed mean, in the verdict
    assert "<strong>50%</strong> of the composed pieces" in page  # called_real 0.5
    assert f"{report['sets']['real']['median']:.3f}" in page
    best = "score <strong>0.931</strong> · composed: <code>composed/piece_&lt;script"
    assert best in page  # the best piece's score, with the file it belongs to
    assert "from <strong>0.432</strong> to <strong>0.679</strong>" in page  # best of K
    assert "from <strong>25%</strong> to <strong>75%</strong>" in page
    assert "0.971 / 0.993" in page  # the Critic's test accuracy and AUC
    c = report["statistics"]["comparison"]["composed"]["pitch_range"]
    row = re.search(r"<tr[^>]*><th>pitch range.*?</tr>", page).group(0)
    assert f"{c['overlap']:.3f}" in row
    assert f"{c['kl']:.3f}" in row
    assert f"{c['reference_mean']:.3g} ± {c['reference_std']:.2g}" in row


def test_dash_for_undefined_and_farthest_highlighted(built, evaluation):
    _, page = built
    _, report = evaluation
    stuck = re.search(r"<tr[^>]*><th>stuck notes.*?</tr>", page).group(0)
    assert stuck.endswith('<td class="n">–</td></tr>')  # random-vs-real KL was null
    labels = report["statistics"]["labels"]
    overlaps = report["statistics"]["comparison"]["composed"]
    ranked = sorted(
        (overlaps[k]["overlap"], k) for k in labels if overlaps[k]["overlap"] is not None
    )
    expected = {labels[k]["label"]: rank for rank, (_, k) in enumerate(ranked[:5], start=1)}
    far_rows = re.findall(r'<tr class="far"><th>([^<]+) <span class="rank"[^>]*>#(\d)', page)
    assert {label: int(rank) for label, rank in far_rows} == expected
    assert len(far_rows) == 5 < len(labels)


def test_strings_from_the_report_are_escaped(built):
    _, page = built
    assert "<script>alert" not in page
    assert "piece_&lt;script&gt;alert(&quot;x&quot;).mid" in page


def test_training_curves_and_their_notes(built, degraded):
    _, page = built
    assert "runs/composer/log.jsonl" in page
    assert "Critic training" in page
    _, page = degraded
    assert len(_images(page)) == 4  # histograms and piano rolls; no curves
    assert re.search(
        r"Composer: no training curves, cannot read .*log\.jsonl.*UnicodeDecodeError", page
    )
    assert re.search(r"Critic: no training curves, cannot read .*runs/critic/log\.jsonl", page)
    assert 'id="best-of"' not in page
    assert 'id="best-of"' in built[1]


def test_audio_players_when_fluidsynth_is_installed(built, synth):
    if synth is None:
        pytest.skip(SYNTH_MISSING)
    out, page = built
    players = re.findall(r'<audio\b[^>]*src="data:(audio/[a-z]+);base64,([A-Za-z0-9+/=]+)"', page)
    assert len(players) == 3  # one per shown piece
    magic = {"audio/ogg": b"OggS", "audio/flac": b"fLaC", "audio/wav": b"RIFF"}
    for mime, data in players:
        raw = base64.b64decode(data)
        assert raw[:4] == magic[mime]
        assert 10_000 < len(raw) < 3_000_000  # a real recording, and no page-bloating one
    assert len(list((out / "audio").iterdir())) == 3
    assert "Audio players are off" not in page


def test_audio_missing_says_how_to_enable_it(degraded):
    _, page = degraded
    assert "<audio" not in page
    assert "Audio players are off: fluidsynth is not on PATH; TUNESMITH_SOUNDFONT=" in page
    assert "<code>apt-get install fluidsynth timgm6mb-soundfont</code>" in page
    assert "<code>TUNESMITH_SOUNDFONT=/path/to.sf2</code>" in page
    assert page.count('alt="piano roll: ') == 3  # the pieces are still drawn


def test_rebuild_command_reports_a_folder_without_report_json(tmp_path, capsys):
    assert main([str(tmp_path), "--no-audio"]) == 2
    assert f"cannot build a report from {tmp_path / 'report.json'}" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_paths_resolve_in_the_folder_then_where_evaluate_ran(tmp_path, monkeypatch):
    out = tmp_path / "evaluation"
    (out / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve(out, "runs/a") == out / "runs/a"  # the folder first
    assert resolve(out, "runs/b") == Path("runs/b")  # then the working directory
    assert resolve(out, "runs/c") == out / "runs/c"  # neither: named in the folder's terms
    assert resolve(out, str(tmp_path / "x")) == tmp_path / "x"
    assert resolve(out, None) is None


def test_explicit_soundfont_that_is_missing_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNESMITH_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(audio.AudioUnavailable, match=r"TUNESMITH_SOUNDFONT=.*gone\.sf2 is not"):
        audio.find_soundfont()
    font = tmp_path / "mine.sf2"
    font.write_bytes(b"RIFF")
    monkeypatch.setenv("TUNESMITH_SOUNDFONT", str(font))
    assert audio.find_soundfont() == font


def test_render_formats_and_length_cap(synth, bach_midi_files, tmp_path):
    if synth is None:
        pytest.skip(SYNTH_MISSING)
    piece = read_midi(bach_midi_files[0])
    magic = {"ogg": b"OggS", "flac": b"fLaC", "wav": b"RIFF"}
    types = audio.file_types(synth.fluidsynth)
    for name in [n for n, f in audio.FORMATS.items() if n == "wav" or f.file_type in types]:
        out = audio.render_notes(
            piece, tmp_path / "x", synth=synth, audio_format=name, max_seconds=4
        )
        assert out.suffix == audio.FORMATS[name].suffix
        assert out.read_bytes()[:4] == magic[name]
    long = audio.render(
        bach_midi_files[0], tmp_path / "cap.mid", synth=synth, audio_format="wav", max_seconds=6.0
    )
    with wave.open(str(long)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 22050, 2)
        seconds = w.getnframes() / w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    assert piece.duration > 20
    assert 6.0 <= seconds < 6.0 + 4.0  # the cap, plus a release tail
    assert np.sqrt(np.mean(samples**2)) > 300  # music, not silence
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


# -- a real browser ------------------------------------------------------------------------------

CHECK_PAGE = """return (async () => {
  const images = [...document.images];
  await Promise.all(images.map((i) => i.decode().catch(() => null)));
  const players = [...document.querySelectorAll("audio")];
  await Promise.all(players.map((a) => a.readyState >= 1 ? null : new Promise((done) => {
    a.addEventListener("loadedmetadata", done);
    a.addEventListener("error", done);
    setTimeout(done, 15000);
  })));
  return {
    images: images.map((i) => ({alt: i.alt, width: i.naturalWidth})),
    audio: players.map((a) => ({duration: a.duration, error: a.error && a.error.code})),
    requests: performance.getEntriesByType("resource").map((r) => r.name),
  };
})()"""


def find_tool(*names: str) -> str | None:
    """Debian's /usr/bin/NAME (chromium and chromedriver from one source, so their versions
    match), else NAME on PATH."""
    for name in names:
        if os.access(f"/usr/bin/{name}", os.X_OK):
            return f"/usr/bin/{name}"
    return next(filter(None, map(shutil.which, names)), None)


def open_page(driver: WebDriver, url: str) -> None:
    """Load ``url``; returns once its load event fired, the browser log emptied before."""
    driver.get_log("browser")  # reading the log drains it: what earlier pages logged goes
    driver.get(url)


def page_errors(driver: WebDriver) -> list[str]:
    """Console errors and failed asserts, uncaught exceptions and failed loads logged since
    ``open_page`` (reading them drains the log)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def screenshot(driver: WebDriver) -> np.ndarray:
    """The viewport as an RGB(A) float array, decoded by matplotlib."""
    from matplotlib import image

    return image.imread(io.BytesIO(driver.get_screenshot_as_png()), format="png")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium under Selenium, through the system chromedriver (given explicitly, so
    Selenium Manager never tries to download one), with a 1200x3000 viewport."""
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException

    chromium, chromedriver = find_tool("chromium", "chromium-browser"), find_tool("chromedriver")
    if missing := [n for n, p in [("chromium", chromium), ("chromedriver", chromedriver)] if not p]:
        pytest.skip(f"no {' or '.join(missing)} here; run scripts/system-deps.sh browser")
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1200,3000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--mute-audio",
    ):
        options.add_argument(flag)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(
            options=options, service=webdriver.ChromeService(executable_path=chromedriver)
        )
    except WebDriverException as e:
        reason = (e.msg or type(e).__name__).splitlines()[0]
        pytest.skip(f"{chromium} with {chromedriver} does not start headless here: {reason}")
    try:
        # --window-size is the whole window, frame included: pin the page's viewport itself.
        metrics = {"width": 1200, "height": 3000, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
def test_browser_check_catches_a_broken_page(browser, tmp_path):
    # The checks below must be able to fail: a script error, a console error, a broken image,
    # a request for something outside the page and a blank page are all seen.
    broken = tmp_path / "broken.html"
    broken.write_text(
        '<!DOCTYPE html><html><body><p>x</p><img alt="bad" src="data:image/png;base64,AAAA">'
        # port 9 is one Chromium refuses to connect to: the request is made, and fails at once
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css">'
        '<script>console.error("told you"); notDefined();</script></body></html>'
    )
    open_page(browser, broken.as_uri())
    errors = page_errors(browser)
    assert any("notDefined" in e for e in errors)
    assert any("told you" in e for e in errors)
    state = browser.execute_script(CHECK_PAGE)
    assert state["images"] == [{"alt": "bad", "width": 0}]
    assert state["requests"] == ["http://127.0.0.1:9/x.css"]
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    open_page(browser, blank.as_uri())
    assert page_errors(browser) == []
    assert screenshot(browser).std() == 0


@pytest.mark.slow
def test_report_loads_cleanly_in_a_browser(browser, built, synth):
    out, _ = built
    open_page(browser, (out / "report.html").as_uri())
    state = browser.execute_script(CHECK_PAGE)
    assert page_errors(browser) == []
    assert state["requests"] == []  # nothing fetched: images and recordings are inline
    assert len(state["images"]) == 6
    assert all(i["width"] > 0 for i in state["images"]), state["images"]
    if synth is not None:  # the browser decodes every embedded recording
        assert len(state["audio"]) == 3
        assert all(a["error"] is None and a["duration"] > 1 for a in state["audio"]), state
    shot = screenshot(browser)
    assert shot.shape[:2] == (3000, 1200)
    assert shot.std() > 0.05  # text, tables and plots, not a blank page
