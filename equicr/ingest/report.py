"""What an ingest run did, for the console and for tests."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class IngestReport:
    """Items written now, found already complete, failures with reasons, and what was left out on purpose."""

    written: int = 0
    already_complete: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out on purpose (unpaired items), not failures

    def summary(self) -> str:
        """One line for the console."""
        return f"{self.written} written, {self.already_complete} already complete, {len(self.failures)} failed"
