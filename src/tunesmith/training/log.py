"""What a run writes beside its checkpoints: ``run.json`` (settings, machine), ``log.jsonl``
(every step and evaluation) and ``metrics.csv`` (evaluations), both appended as it goes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

from tunesmith.atomic import atomic_write_bytes, atomic_write_json, json_text
from tunesmith.checkpoint import Record

LOG = "log.jsonl"
METRICS = "metrics.csv"
RUN = "run.json"


class RunLog:
    """Appends to ``log.jsonl`` and ``metrics.csv``. ``keep_until``: a resumed run first drops
    records of steps after its checkpoint, which it is about to take again."""

    def __init__(self, out: Path, keep_until: int | None = None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.jsonl_path, self.csv_path = out / LOG, out / METRICS
        if keep_until is not None:
            self._truncate(keep_until)
        self.jsonl = open(self.jsonl_path, "a", encoding="utf-8")  # noqa: SIM115 - see close()

    def step(
        self,
        epoch: int,
        step: int,
        elapsed: float,
        loss: float,
        lr: float,
        rate: float,
        extra: dict[str, float] | None = None,
    ) -> None:
        self._write(
            {
                "event": "step",
                "epoch": epoch,
                "step": step,
                "elapsed": round(elapsed, 3),
                "loss": round(loss, 5),
                "lr": lr,
                "items_per_s": round(rate),
                **{k: round(v, 5) for k, v in (extra or {}).items()},
            }
        )

    def eval(self, record: dict[str, Any]) -> None:
        self._write({"event": "eval", **record})
        new = not self.csv_path.exists()
        with open(self.csv_path, "a", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(record))
            if new:
                w.writeheader()
            w.writerow(record)

    def close(self) -> None:
        self.jsonl.close()

    def _write(self, record: dict[str, Any]) -> None:
        self.jsonl.write(json_text(record, indent=None) + "\n")
        self.jsonl.flush()

    def _truncate(self, step: int) -> None:
        if self.jsonl_path.exists():
            lines = self.jsonl_path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [line for line in lines if _step_of_json(line) <= step]
            atomic_write_bytes(self.jsonl_path, "".join(kept).encode())
        if self.csv_path.exists():
            rows = list(csv.DictReader(io.StringIO(self.csv_path.read_text(encoding="utf-8"))))
            kept_rows = [r for r in rows if int(r.get("step") or 0) <= step]
            buf = io.StringIO()
            if rows:
                w = csv.DictWriter(buf, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(kept_rows)
            atomic_write_bytes(self.csv_path, buf.getvalue().encode())


def _step_of_json(line: str) -> float:
    try:
        return json.loads(line).get("step", 0)
    except (json.JSONDecodeError, AttributeError):
        return float("inf")  # a line torn by a kill: drop it


def read_log(out: str | Path) -> list[dict[str, Any]]:
    """The records of a run's ``log.jsonl`` (torn lines skipped)."""
    path = Path(out) / LOG
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def write_run_json(out: Path, task: Any, config: Any, rt: Any, precision: str) -> None:
    """The run's settings (the checkpoint record without state), the precision it trains in,
    machine, versions, commit."""
    import torch

    record = Record(kind=task.kind, **task.meta(), train=config, world=rt.world).to_json()
    del record["format"]
    atomic_write_json(
        out / RUN,
        {
            **record,
            "device": str(rt.device),
            "precision": precision,
            "torch": torch.__version__,
            "commit": git_commit(),
        },
    )


def git_commit() -> str | None:
    """The commit of tunesmith's source tree when it is a git checkout (None otherwise)."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
