"""The drill report: a timeline, per node and per client network results, time-to-shift and time-to-restore,
and every failure; written as JSON and as Markdown."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from gtm.errors import Exit

OUTCOMES = {  # outcome -> exit code
    "passed": Exit.OK, "error": Exit.FAIL, "refused": Exit.REFUSED, "verification failed": Exit.VERIFICATION_FAILED,
    "interrupted": Exit.INTERRUPTED,
}


@dataclass
class Report:
    kind: str                              # "drill", "failover", "restore"
    region: str
    services: list[str]
    started: float = field(default_factory=time.time)
    outcome: str = "error"
    summary: str = ""
    timeline: list[dict[str, Any]] = field(default_factory=list)
    shift: dict[str, float | None] = field(default_factory=dict)     # node -> seconds after the drain
    restore: dict[str, float | None] = field(default_factory=dict)   # node -> seconds after the restore
    clients: list[dict[str, Any]] = field(default_factory=list)      # per client network: what it saw
    failures: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    rolled_back: bool = False
    queries: int = 0

    def event(self, what: str, **data: Any) -> None:
        self.timeline.append({"at": round(time.time(), 3), "t": round(time.time() - self.started, 3), "event": what,
                              **data})

    def fail(self, text: str) -> None:
        self.failures.append(text)
        self.event("failure", detail=text)

    @property
    def exit_code(self) -> int:
        return int(OUTCOMES.get(self.outcome, Exit.FAIL))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    def to_markdown(self) -> str:
        t0 = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.started))
        lines = [f"# gtm {self.kind}: {self.region} — {self.outcome.upper()}", "",
                 f"{self.summary}", "",
                 f"- started: {t0}", f"- services: {', '.join(self.services)}",
                 f"- rolled back: {'yes' if self.rolled_back else 'no'}", f"- DNS queries sent: {self.queries}"]
        for k, v in self.settings.items():
            lines.append(f"- {k}: {v}")
        if self.shift or self.restore:
            lines += ["", "## Per node", "", "| node | time to shift | time to restore |", "|---|---|---|"]
            for node in sorted(set(self.shift) | set(self.restore)):
                lines.append(f"| {node} | {_secs(self.shift.get(node, None), node in self.shift)} | "
                             f"{_secs(self.restore.get(node, None), node in self.restore)} |")
        if self.clients:
            lines += ["", "## Per service and client network", "",
                      "| service | client network | where | before | during | after |", "|---|---|---|---|---|---|"]
            for c in self.clients:
                lines.append(f"| {c.get('service', '-')} | {c['client']} | {c['where']} | "
                             f"{', '.join(c['before']) or '-'} | {', '.join(c['during']) or '-'} | "
                             f"{', '.join(c['after']) or '-'} |")
        if self.failures:
            lines += ["", "## Failures", ""] + [f"- {f}" for f in self.failures]
        lines += ["", "## Timeline", "", "| t (s) | event | detail |", "|---|---|---|"]
        for e in self.timeline:
            detail = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("at", "t", "event"))
            lines.append(f"| {e['t']:.3f} | {e['event']} | {detail} |")
        return "\n".join(lines) + "\n"

    def write(self, path: str) -> list[str]:
        """Write ``path`` (.json or .md decides; anything else gets both, as path.json and path.md)."""
        outs = [path] if path.endswith((".json", ".md")) else [path + ".json", path + ".md"]
        for out in outs:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(self.to_json() if out.endswith(".json") else self.to_markdown())
        return outs


def _secs(value: float | None, present: bool) -> str:
    if not present:
        return "-"
    return f"{value:.2f} s" if value is not None else "did not happen"
