"""What an ingest run did, for the console and for tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from equicr.errors import outcome_status


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

    def exit_code(self) -> int:
        """The jobs' contract: 0 every item is in the collection, 1 some failed, 2 none is there at all.

        A run that ingested nothing and found nothing complete did nothing a user can use, whether its
        items failed or none was eligible (no Sentinel-1 partner), so it is not a success.
        """
        return outcome_status(self.written + self.already_complete, len(self.failures))
