"""Composing: batched sampling from a trained Composer, and the pieces as notes or MIDI files.

All pieces advance together, one LSTM step per token for the whole batch, the state carried.
The step is computed from the LSTM's own weights (:class:`Stepper`) rather than by calling
``nn.LSTM`` on one time step, whose per-call set-up costs more than the arithmetic at this size.

Sampling keeps every sequence well formed (:class:`Rules`): no note-off for a pitch that is not
sounding, a length right after each note-on and nowhere else (the duration encoding), no end of
piece while notes still sound or before the first note, no PAD or BOS; and a piece that has no
note by its last token gets one, so every piece decodes to at least one note. On request it also
bounds note length and polyphony (``--max-note-seconds``, ``--max-polyphony``): a note that has
sounded its longest is released before time moves on, and no note is struck while too many sound.

A Composer trained with conditioning is fed, at every step, what the user asked for
(:class:`Controls`: a density, possibly moving over the piece, a key's pitch-class profile, a
style); what was not asked for is fed as training fed a dropped signal.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunesmith.atomic import output_dir
from tunesmith.checkpoint import Record
from tunesmith.config import COMPOSE, CodecConfig, ComposerConfig, NegativeConfig, SampleConfig
from tunesmith.data import controls
from tunesmith.data.cache import TokenCache
from tunesmith.data.codec import NUM_PITCHES, Codec
from tunesmith.data.midi import read_midi, write_midi
from tunesmith.data.notes import Notes, pitch_number
from tunesmith.data.split import SPLITS
from tunesmith.errors import ConfigError
from tunesmith.models.composer import Composer
from tunesmith.models.load import load_model
from tunesmith.progress import Progress, Silent, rich_progress
from tunesmith.runtime import pick_device, pick_precision

# Far beyond any use of one call (an hour of CPU sampling), but a few GB of tokens at most.
MAX_SAMPLE_TOKENS = 100_000_000
MAX_PRIMER_SECONDS = 3600.0


@dataclass
class LoadedComposer:
    """A Composer checkpoint ready to sample: the model (eval mode), its codec and record."""

    model: Composer
    codec: Codec
    record: Record

    @property
    def path(self) -> Path:
        return self.record.path or Path()

    def own(self, config: SampleConfig) -> SampleConfig:
        """``config`` with the nucleus fitted to this Composer on its validation split (see
        :mod:`tunesmith.judging.nucleus`), where it has one."""
        top_p = self.record.top_p
        return config if top_p is None else dataclasses.replace(config, top_p=top_p)

    def compose(
        self, config: SampleConfig | None = None, primer: np.ndarray | None = None
    ) -> list[Notes]:
        """Sample pieces in one batch (see :func:`sample`; by default as ``compose`` does) and
        decode each to notes."""
        config = config or COMPOSE.sample
        return [self.codec.decode(t) for t in sample(self.model, self.codec, config, primer)]


def load_composer(
    path: str | os.PathLike, device: str | torch.device = "cpu", codec: CodecConfig | None = None
) -> LoadedComposer:
    """Load a Composer from a checkpoint or run directory (its ``best/``).

    With ``codec``, a checkpoint trained on another vocabulary is a :class:`CheckpointError`.
    """
    model, record = load_model(path, "composer", device, codec)
    assert isinstance(model, Composer)
    return LoadedComposer(model, Codec(record.codec), record)


class Stepper:
    """One step of a :class:`Composer` for a batch: token -> logits, carrying (h, c) per layer.

    Layer 0's input projection is folded into a lookup table (embedding @ W_ih + biases), each
    further layer's two matrix products into one, and the gates are reordered from PyTorch's
    (i, f, g, o) to (i, f, o, g) so one sigmoid covers three of them.

    With ``dtype`` bfloat16 the gates' matrix products and the table are in bf16 (the step is
    a few small products, and bf16 ones run about 4x faster where the CPU has native bf16); the
    state and the output layer stay fp32, so logits keep fp32 resolution (bf16-rounded logits
    tie often, and greedy, top-k and top-p would then disagree on which token is likeliest).
    """

    def __init__(self, model: Composer, dtype: torch.dtype = torch.float32) -> None:
        self.dtype = dtype
        lstm = model.lstm
        H = lstm.hidden_size
        order = torch.cat(
            [torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)]
        )
        w = {name: p.detach()[order] for name, p in lstm.named_parameters()}
        bias0 = w["bias_ih_l0"] + w["bias_hh_l0"]
        E, D = model.config.embedding, model.num_controls
        w_ih0 = w["weight_ih_l0"]
        table = torch.addmm(bias0, model.embed.weight.detach(), w_ih0[:, :E].T)
        self.table = table.to(dtype)
        # A conditioned Composer's controls and style enter layer 0 beside the token: fp32, as
        # they are few and the style's part is once per piece.
        self.w_controls = w_ih0[:, E : E + D].T.contiguous()
        self.style_table = None
        if model.style is not None:
            self.style_table = model.style.weight.detach() @ w_ih0[:, E + D :].T
        self.w_hh0 = w["weight_hh_l0"].T.contiguous().to(dtype)
        self.layers = [
            (
                torch.cat([w[f"weight_ih_l{k}"], w[f"weight_hh_l{k}"]], dim=1)
                .T.contiguous()
                .to(dtype),
                (w[f"bias_ih_l{k}"] + w[f"bias_hh_l{k}"]).to(dtype),
            )
            for k in range(1, lstm.num_layers)
        ]
        head = model.head.weight.detach()
        if model.proj is not None:
            head = head @ model.proj.weight.detach()
        self.head_w = head.T.contiguous()
        self.head_b = model.head.bias.detach()

    @staticmethod
    def _cell(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        H = c.shape[1]
        ifo = torch.sigmoid(gates[:, : 3 * H])
        g = torch.tanh(gates[:, 3 * H :])
        c = torch.addcmul(ifo[:, H : 2 * H] * c, ifo[:, :H], g)
        return ifo[:, 2 * H :] * torch.tanh(c), c

    def given(
        self, controls: torch.Tensor | None, style: torch.Tensor | None
    ) -> torch.Tensor | None:
        """What a conditioned Composer's ``controls`` (B, width) and ``style`` ids (B,) add to
        layer 0's gates (B, 4H), for :meth:`step`; None for an unconditioned one."""
        out = None
        if self.w_controls.shape[0]:
            assert controls is not None
            out = controls.float() @ self.w_controls
        if self.style_table is not None:
            assert style is not None
            rows = self.style_table[style]
            out = rows if out is None else out + rows
        return out

    def step(
        self,
        tokens: torch.Tensor,
        h: list[torch.Tensor],
        c: list[torch.Tensor],
        given: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Advance every sequence by ``tokens`` (B,); updates ``h``/``c`` in place (lists of
        (B, H)); returns the next-token logits (B, vocab). ``given``: :meth:`given`'s gates."""
        dt = self.dtype
        gates = torch.addmm(self.table[tokens], h[0].to(dt), self.w_hh0).float()
        if given is not None:
            gates = gates + given
        h[0], c[0] = self._cell(gates, c[0])
        for k, (w, b) in enumerate(self.layers, start=1):
            gates = torch.addmm(b, torch.cat([h[k - 1], h[k]], dim=1).to(dt), w).float()
            h[k], c[k] = self._cell(gates, c[k])
        return torch.addmm(self.head_b, h[-1], self.head_w)


@dataclass(frozen=True)
class Controls:
    """What a conditioned Composer is asked for (:mod:`tunesmith.data.controls`): a density in
    notes/s at the start and at the end of the piece (moving evenly between), a pitch-class
    profile, a style id (0: none); ``signals`` are the Composer's."""

    signals: tuple[str, ...] = ()
    density: tuple[float, float] | None = None
    profile: np.ndarray | None = None
    style: int = 0

    @property
    def asked(self) -> bool:
        return self.density is not None or self.profile is not None or self.style > 0

    def rows(self, fraction: torch.Tensor) -> torch.Tensor:
        """The controls of each sequence (n, width), ``fraction`` (n,) of the way through."""
        base = torch.from_numpy(controls.request(self.signals, profile=self.profile))
        out = base.to(fraction.device).expand(len(fraction), -1).clone()
        if self.density is not None:
            col = controls.width(self.signals[: self.signals.index("density")])
            start, end = self.density
            now = start + (end - start) * fraction.clamp(0, 1).cpu().numpy()
            out[:, col + 1 : col + controls.WIDTHS["density"]] = torch.from_numpy(
                controls.density_bins(now)
            ).to(out.device)
            out[:, col] = 1.0
        return out


def guide(logits: torch.Tensor, weight: float) -> torch.Tensor:
    """Classifier-free guidance: of ``logits`` for 2n rows (asked, then the same pieces asked
    nothing), the unasked logits moved ``weight`` times as far as the controls move them (n
    rows)."""
    cond, free = logits.chunk(2)
    return free + weight * (cond - free)


def requested_controls(config: SampleConfig, model: ComposerConfig) -> Controls:
    """The controls ``config`` asks for, checked against what ``model`` was trained with."""
    asked = {"density": config.density, "pitch-classes": config.key, "style": config.style}
    missing = [name for name, text in asked.items() if text and name not in model.condition]
    if missing:
        raise ConfigError(
            f"this Composer was not trained to follow {' or '.join(missing)} (its signals: "
            f"{', '.join(model.condition) or 'none'}); train one with --condition "
            f"{','.join(missing)}"
        )
    style = 0
    if config.style:
        lowered = [s.lower() for s in model.styles]
        if config.style.lower() not in lowered:
            raise ConfigError(
                f"--style {config.style!r}: not a style of this Composer; choose from "
                f"{', '.join(model.styles)}"
            )
        style = lowered.index(config.style.lower()) + 1
    return Controls(
        model.condition,
        controls.parse_density(config.density) if config.density else None,
        controls.key_profile(config.key) if config.key else None,
        style,
    )


UNISON = 4  # under bounds, the most notes of one pitch sounding at once


class Rules:
    """What may come next in each sequence: tracks the sounding notes (note-off encoding) or the
    length said so far of the note just struck (duration encoding), the note count and the
    clock; with ``bounds`` (a :class:`SampleConfig`'s ``max_note_seconds`` and
    ``max_polyphony``) it also holds every note and the number sounding within them, and with
    its ``min_seconds`` no piece ends sooner."""

    def __init__(
        self, codec: Codec, n: int, device: torch.device, bounds: SampleConfig | None = None
    ) -> None:
        self.codec = codec
        # Bounds (0 = none): the longest note in steps, the most notes sounding at once.
        seconds = bounds.max_note_seconds if bounds else 0.0
        # Whole steps, rounded down: no note outlasts the bound.
        self.max_steps = max(1, int(seconds / codec.config.time_step + 1e-9)) if seconds else 0
        self.max_polyphony = bounds.max_polyphony if bounds else 0
        # No end before this many steps (0: whenever the notes allow).
        self.min_steps = round(bounds.min_seconds / codec.config.time_step) if bounds else 0
        self.sounding = torch.zeros(n, NUM_PITCHES, dtype=torch.int32, device=device)
        # Under bounds, the onsets of each pitch's sounding notes, oldest (the next a note-off
        # ends) at ``head``: up to UNISON of them.
        tracked = (n, NUM_PITCHES, UNISON) if self.max_steps or self.max_polyphony else (0, 0, 0)
        self.onsets = torch.zeros(tracked, dtype=torch.int64, device=device)
        self.head = torch.zeros(tracked[:2], dtype=torch.int64, device=device)
        self.waiting = torch.zeros(n, dtype=torch.bool, device=device)  # the last was a note-on
        self.more = torch.zeros_like(self.waiting)  # the last was a full duration: more may come
        self.length = torch.zeros(n, dtype=torch.int64, device=device)  # steps said so far
        self.notes = torch.zeros(n, dtype=torch.int64, device=device)
        self.clock = torch.zeros(n, dtype=torch.int64, device=device)  # time steps
        self.base = torch.ones(codec.vocab_size, dtype=torch.bool, device=device)
        self.base[[codec.pad, codec.bos]] = False
        self.base[codec.duration : codec.shift] = False
        self.only_notes = torch.zeros_like(self.base)
        self.only_notes[codec.note_on : codec.note_off] = True
        self._steps = torch.arange(1, codec.shift - codec.duration + 1, device=device)
        self._shifts = torch.arange(1, codec.velocity - codec.shift + 1, device=device)
        self._rows = torch.arange(n, device=device)
        self._cap = codec.config.max_duration_steps
        if self.max_steps:
            self._cap = min(self._cap, self.max_steps)

    def allowed(self, left: int) -> torch.Tensor:
        """(n, vocab) bool mask of the tokens each sequence may take now, with ``left`` tokens
        to go (this one included): a sequence without a note must play one while there is room
        for it (and its length); no note is struck without room for its length, and none is
        longer than the codec's ``max_duration``."""
        c = self.codec
        mask = self.base.expand(len(self.notes), -1).clone()
        room = 2 if c.durations else 1  # tokens a note takes at least
        sounding = self.sounding.sum(dim=1)
        if not c.durations:
            mask[:, c.note_off : c.duration] = self.sounding > 0
        elif left == 1:
            mask[:, c.note_on : c.note_off] = False
        if len(self.onsets) and not c.durations:
            oldest = self.onsets.gather(2, self.head[..., None]).squeeze(2)
            mask[:, c.note_on : c.note_off] &= self.sounding < UNISON
            # Nor is a note released at the step it was struck: it would sound one step (every
            # note does), beside the notes struck after it.
            mask[:, c.note_off : c.duration] &= oldest < self.clock[:, None]
        if self.max_polyphony:
            mask[:, c.note_on : c.note_off] &= (sounding < self.max_polyphony)[:, None]
        mask[:, c.eos] = (self.notes > 0) & (sounding == 0) & (self.clock >= self.min_steps)
        if left == room:
            silent = self.notes == 0
            mask[silent] = self.only_notes
        if c.durations:
            mask[self.waiting] = False
            fits = self._steps <= (self._cap - self.length)[:, None]
            mask[:, c.duration : c.shift] = fits & (self.waiting | self.more)[:, None]
        elif self.max_steps:
            # Time moves on only as far as the longest-held note may still sound; a note that
            # has sounded its longest is released before anything else.
            held = torch.where(self.sounding > 0, self.clock[:, None] - oldest, -1)
            room_left = self.max_steps - held.max(dim=1).values
            mask[:, c.shift : c.velocity] &= self._shifts <= room_left[:, None]
            over = held >= self.max_steps
            forced = over.any(dim=1)
            mask[forced] = False
            mask[:, c.note_off : c.duration] |= over & forced[:, None]
        return mask

    def update(self, tokens: torch.Tensor) -> None:
        """Account for the tokens just taken (PAD for finished sequences is ignored)."""
        c = self.codec
        on = tokens < c.note_off
        shift = (tokens >= c.shift) & (tokens < c.velocity)
        if c.durations:
            said = (tokens >= c.duration) & (tokens < c.shift)
            steps = tokens - c.duration + 1
            self.length = torch.where(on, 0, self.length) + torch.where(said, steps, 0)
            # Lengths are written as gaps are: full tokens, then the rest; only a full one
            # may be followed by more.
            full = steps == c.config.max_shift_steps
            self.more = said & full & (self.length < c.config.max_duration_steps)
            self.waiting = on
        else:
            off = (tokens >= c.note_off) & (tokens < c.duration)
            pitch = tokens % NUM_PITCHES
            if len(self.onsets):
                head = self.head[self._rows, pitch]
                slot = (head + self.sounding[self._rows, pitch]) % UNISON
                kept = self.onsets[self._rows, pitch, slot]
                self.onsets[self._rows, pitch, slot] = torch.where(on, self.clock, kept)
                self.head[self._rows, pitch] = torch.where(off, (head + 1) % UNISON, head)
            delta = on.to(torch.int32) - off.to(torch.int32)
            self.sounding[self._rows, pitch] += delta * (on | off)
        self.notes += on
        self.clock += torch.where(shift, tokens - c.shift + 1, 0)

    def restart_clock(self) -> None:
        """Count time from now (the sounding notes' onsets move with it)."""
        self.onsets -= self.clock[:, None, None] if len(self.onsets) else 0
        self.clock.zero_()

    def replay(self, tokens: torch.Tensor) -> None:
        """Take the tokens of a primer (n, T), one position at a time."""
        for t in range(tokens.shape[1]):
            self.update(tokens[:, t])


def pick(
    logits: torch.Tensor,
    mask: torch.Tensor,
    config: SampleConfig,
    generator: torch.Generator,
    top_p: torch.Tensor | None = None,
) -> torch.Tensor:
    """One token per row from ``logits`` restricted to ``mask``, with temperature, top-k, top-p
    (``config.top_p``, or each row its own from ``top_p``, shape (rows,))."""
    logits = logits.float().masked_fill(~mask, -torch.inf)
    if config.temperature == 0:
        return logits.argmax(dim=1)
    logits = logits / config.temperature
    if config.top_k and config.top_k < logits.shape[1]:
        kth = logits.topk(config.top_k, dim=1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    probs = torch.softmax(logits, dim=1)
    keep = config.top_p if top_p is None else top_p[:, None]
    if top_p is not None or config.top_p < 1.0:
        sorted_p, order = probs.sort(dim=1, descending=True)
        # drop a token when the ones ranked above it already hold top_p (the first always stays;
        # at 1 none goes, though rounding may take the cumulative sum past 1 early)
        drop_sorted = ((sorted_p.cumsum(dim=1) - sorted_p) >= keep) & (keep < 1.0)
        drop = torch.zeros_like(drop_sorted).scatter(1, order, drop_sorted)
        probs = probs.masked_fill(drop, 0.0)
    # Inverse-CDF sampling: one uniform number per row (torch.multinomial draws one per token,
    # which costs more than the LSTM step at this size). A token of probability 0 never has
    # the first cumulative sum above u, so masked tokens stay out.
    cdf = probs.cumsum(dim=1)
    u = torch.rand(len(cdf), 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_(max=cdf.shape[1] - 1)


def sample(
    model: Composer,
    codec: Codec,
    config: SampleConfig | None = None,
    primer: np.ndarray | None = None,
    progress: Progress | None = None,
    top_p: torch.Tensor | None = None,
) -> list[np.ndarray]:
    """Sample ``config.n`` pieces in one batch; returns each piece's event tokens (int64, no
    BOS/EOS/PAD), the primer's tokens first when a primer is given. ``top_p``: each piece's own
    nucleus in place of ``config.top_p``, shape (n,)."""
    config = config or SampleConfig()
    tokens = sample_tokens(model, codec, config, primer, progress, top_p)
    head = np.asarray(primer if primer is not None else [], dtype=np.int64)
    return [np.concatenate([head, row]) for row in event_rows(codec, tokens)]


def event_rows(codec: Codec, tokens: torch.Tensor) -> list[np.ndarray]:
    """Each row of :func:`sample_tokens` as a piece's events: PAD and the EOS that ends it
    dropped."""
    return [row[row < codec.num_events] for row in tokens.cpu().numpy()]


@torch.no_grad()
def sample_tokens(
    model: Composer,
    codec: Codec,
    config: SampleConfig,
    primer: np.ndarray | None = None,
    progress: Progress | None = None,
    top_p: torch.Tensor | None = None,
) -> torch.Tensor:
    """The generated tokens as sampled, ``(n, length)`` on the model's device: each row ends
    with EOS (if the piece ended) and then PAD (``top_p`` as in :func:`sample`). The model is
    left in the mode it was in."""
    progress = progress or Silent()
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n, length = config.n, config.length
    primer_t = torch.as_tensor(np.asarray(primer if primer is not None else [], dtype=np.int64))
    if n * (length + len(primer_t)) > MAX_SAMPLE_TOKENS:
        raise ConfigError(
            f"sample: n x (primer + length) = {n:,} x {len(primer_t) + length:,} tokens is more "
            f"than {MAX_SAMPLE_TOKENS:,} in one batch; compose fewer or shorter pieces per call"
        )
    plan = requested_controls(config, model.config)
    generator = torch.Generator(device).manual_seed(config.seed)
    if top_p is not None:
        top_p = top_p.to(device=device, dtype=torch.float32)
        if top_p.shape != (n,) or not bool(((top_p > 0) & (top_p <= 1)).all()):
            raise ConfigError(f"sample: top_p must be {n} fractions in (0, 1]")
    prefix = torch.cat([torch.tensor([codec.bos]), primer_t]).to(device).expand(n, -1)
    rules = Rules(codec, n, device, config)
    rules.replay(prefix[:, 1:])
    rules.restart_clock()  # the time limit counts the music written after the primer
    # With guidance, rows n..2n are the same pieces asked nothing, for the logits to move from.
    guided = config.guidance != 1.0 and plan.asked
    rows = 2 * n if guided else n
    style = torch.full((rows,), plan.style, dtype=torch.int64, device=device)
    style[n:] = 0
    start = plan.rows(torch.zeros(n, device=device))  # the primer reads the opening's controls
    start = torch.cat([start, torch.zeros_like(start)]) if guided else start
    logits, (h0, c0) = model(
        prefix[:1].expand(rows, -1),
        controls=start[:, None].expand(-1, prefix.shape[1], -1),
        style=style,
    )  # once per call: fp32
    logits = guide(logits[:, -1], config.guidance) if guided else logits[:, -1]
    h, c = list(h0.unbind(0)), list(c0.unbind(0))
    bf16 = pick_precision(config.precision, device) == "bf16"
    stepper = Stepper(model, torch.bfloat16 if bf16 else torch.float32)
    limit = round(config.seconds / codec.config.time_step) if config.seconds else None

    out = torch.full((n, length), codec.pad, dtype=torch.int64, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    advance = progress.task(f"composing {n} pieces", length)
    for t in range(length):
        tokens = pick(logits, rules.allowed(left=length - t), config, generator, top_p)
        tokens = tokens.masked_fill(done, codec.pad)
        out[:, t] = tokens
        rules.update(tokens)
        done |= tokens == codec.eos
        if limit is not None:
            done |= rules.clock >= limit
        advance(1)
        if bool(done.all()):
            break
        given = None
        if model.num_controls or model.style is not None:
            # How far through the piece: by the clock when it is given in seconds.
            if config.seconds:
                fraction = rules.clock * (codec.config.time_step / config.seconds)
            else:
                fraction = torch.full((n,), (t + 1) / length, device=device)
            asked = plan.rows(fraction)
            asked = torch.cat([asked, torch.zeros_like(asked)]) if guided else asked
            given = stepper.given(asked, style)
        both = torch.cat([tokens, tokens]) if guided else tokens
        logits = stepper.step(both, h, c, given)
        logits = guide(logits, config.guidance) if guided else logits
    advance(length - 1 - t)
    model.train(was_training)
    return out


def allowed_masks(codec: Codec, tokens: torch.Tensor) -> torch.Tensor:
    """The masks :func:`sample_tokens` sampled ``tokens`` (n, T) under, no primer: (n, T, vocab),
    position ``t`` saying what could follow the tokens before it."""
    n, T = tokens.shape
    rules = Rules(codec, n, tokens.device)
    masks = torch.empty(n, T, codec.vocab_size, dtype=torch.bool, device=tokens.device)
    for t in range(T):
        masks[:, t] = rules.allowed(left=T - t)
        rules.update(tokens[:, t])
    return masks


@torch.no_grad()
def opening(model: Composer, codec: Codec, pitch: int) -> np.ndarray:
    """A primer that opens a piece with ``pitch``: the velocity the Composer likes best to open
    a piece with (every piece the codec writes starts with one), then that note struck. The
    Composer goes on from there, the note sounding (note-off) or its length next (duration)."""
    if not 0 <= pitch < NUM_PITCHES:
        raise ConfigError(f"start note: pitch {pitch} is outside 0-{NUM_PITCHES - 1}")
    device = next(model.parameters()).device
    logits, _ = model(torch.tensor([[codec.bos]], device=device))
    velocity = codec.velocity + int(logits[0, -1, codec.velocity : codec.num_events].argmax())
    return np.array([velocity, codec.note_on + pitch], dtype=np.int64)


def encode_primer(path: str | os.PathLike, codec: Codec, seconds: float = 0.0) -> np.ndarray:
    """A primer MIDI file as event tokens (its first ``seconds`` only, if given)."""
    notes = read_midi(path)
    notes = notes.shifted(-float(notes.start.min()))
    if seconds:
        notes = notes.take(np.flatnonzero(notes.start < seconds))
        notes = Notes(notes.start, np.minimum(notes.end, seconds), notes.pitch, notes.velocity)
    return codec.encode(notes)


def write_pieces(
    pieces: list[np.ndarray],
    codec: Codec,
    out_dir: str | os.PathLike,
    stem: str = "piece",
    names: list[str] | None = None,
) -> list[Path]:
    """Decode token sequences and write each, atomically, as ``{stem}_{i:03d}.mid`` or as
    ``{i:03d}_{name}.mid`` when ``names`` are given."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(len(pieces))))
    paths = []
    for i, tokens in enumerate(pieces, start=1):
        name = f"{stem}_{i:0{width}d}" if names is None else f"{i:0{width}d}_{names[i - 1]}"
        paths.append(write_midi(codec.decode(tokens), out_dir / f"{name}.mid"))
    return paths


def compose_negatives(
    composer_path: str,
    cache: TokenCache,
    split: str,
    config: NegativeConfig,
    seed: int,
    device: torch.device,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """Pieces sampled from a Composer as negatives of one split: ``composer_pieces`` for train,
    a quarter as many (at least 16) for valid and test, each split from its own seed."""
    composer = load_composer(composer_path, device, codec=cache.codec.config)
    lengths = sorted(p.length for p in cache.split(split))
    n = config.composer_pieces if split == "train" else max(16, config.composer_pieces // 4)
    sample_config = SampleConfig(
        n=n,
        length=min(2048, lengths[int(0.9 * (len(lengths) - 1))]),
        temperature=config.composer_temperature,
        seed=seed * 3 + SPLITS.index(split),
    )
    return sample(composer.model, composer.codec, sample_config, progress=progress)


def compose_files(
    checkpoint: str | os.PathLike,
    config: SampleConfig,
    out: str | os.PathLike,
    primer: str | os.PathLike | None = None,
    primer_seconds: float = 10.0,
    device: str = "auto",
    overwrite: bool = False,
    start_note: str | int | None = None,
    own_nucleus: bool = False,
) -> dict[str, Any]:
    """``compose``: sample pieces with the Composer at ``checkpoint`` and write them to ``out``,
    which must be empty unless ``overwrite`` (then the earlier run is replaced whole). The
    pieces continue the opening ``primer_seconds`` of ``primer``, or open with ``start_note``
    (a name such as ``C4`` or a MIDI number), if given; with ``own_nucleus`` they come from the
    Composer's fitted nucleus where it has one. Returns the files with their tokens, notes and
    seconds, the Composer, the nucleus and the sampling time."""
    if not (math.isfinite(primer_seconds) and 0 < primer_seconds <= MAX_PRIMER_SECONDS):
        raise ConfigError(
            f"--primer-seconds must be in (0, {MAX_PRIMER_SECONDS:g}], got {primer_seconds}"
        )
    if primer is not None and start_note is not None:
        raise ConfigError("give --primer or --start-note, not both")
    pitch = None if start_note is None else pitch_number(start_note)
    out = Path(out)
    with output_dir(out, overwrite) as tmp:
        composer = load_composer(checkpoint, pick_device(device))
        if own_nucleus:
            config = composer.own(config)
        tokens = None
        if primer is not None:
            tokens = encode_primer(primer, composer.codec, primer_seconds)
        elif pitch is not None:
            tokens = opening(composer.model, composer.codec, pitch)
        t0 = time.perf_counter()
        with rich_progress(transient=True) as progress:
            pieces = sample(composer.model, composer.codec, config, tokens, progress)
        seconds = time.perf_counter() - t0
        files = []
        for path, piece in zip(write_pieces(pieces, composer.codec, tmp), pieces):
            notes = composer.codec.decode(piece)
            files.append(
                {
                    "file": str(out / path.relative_to(tmp)),
                    "tokens": len(piece),
                    "notes": len(notes),
                    "seconds": round(notes.duration, 3),
                }
            )
    return {
        "composer": str(composer.path),
        "files": files,
        "sampling_seconds": round(seconds, 3),
        "top_p": config.top_p,
        "fitted": own_nucleus and composer.record.top_p is not None,
        "precision": pick_precision(config.precision, next(composer.model.parameters()).device),
        "asked": {k: getattr(config, k) for k in ("density", "key", "style") if getattr(config, k)},
        "guidance": config.guidance,
    }
