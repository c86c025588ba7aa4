"""State shared by the generator steps of one sample account."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from vultr_pipeline.emulator.catalogue import Catalogue
from vultr_pipeline.emulator.charges import Charge
from vultr_pipeline.emulator.ids import IdSource


@dataclass
class GenerationContext:
    """Inputs and accumulated charges of one account generation.

    Attributes:
        ids: Seeded source of ids, addresses and randomness.
        catalogue: Regions and plans.
        now: Instant the account is generated at.
        window_start: Start of the oldest invoiced month.
        charges: Billable resources collected by the inventory steps, in creation order.
    """

    ids: IdSource
    catalogue: Catalogue
    now: dt.datetime
    window_start: dt.datetime
    charges: list[Charge] = field(default_factory=list)

    def created_at(self, share_before_window: float = 0.6) -> dt.datetime:
        """Return a creation time, before the invoiced months for about the given share."""
        if self.ids.rng.random() < share_before_window:
            earliest = self.window_start - dt.timedelta(days=400)
            return self.ids.moment(earliest, self.window_start)
        return self.ids.moment(self.window_start, self.now - dt.timedelta(days=1))
