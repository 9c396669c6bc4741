"""Which fleet the MCP server controls, and whether it may act on the store.

SoC and dispatch records are keyed by (site, unit id). The pipeline
(``vpp run``) names its units ``u0, u1, …`` and writes its fleet to the
store's ``fleet_config`` metadata: that is the *fleet of record*. The MCP
server may act on the store's units only when its own fleet is the same
fleet, otherwise it would start differently sized units from the pipeline's
SoC and its SoC rows would overwrite the pipeline's. Identity is a
fingerprint: the SHA-256 of the canonical JSON of the units (without
``start_soc``, which is an initial state, not part of what a unit is), their
sites and the site list; the JSON shape of the file (``uniform`` or
``units``) does not matter.

Modes (:class:`FleetGuard`):

* no ``--fleet-config``: the server uses the fleet of record (or, when the
  store has none, one default battery per site);
* ``--fleet-config`` equal to the fleet of record: normal;
* ``--fleet-config`` different from it: read tools work and report both
  fleets, SoC is not taken from the store, and dispatch is refused;
* ``--fleet-config`` and no fleet of record: the server's fleet becomes the
  fleet of record (written to the store), so later sessions with another
  fleet are caught; but if the store holds SoC records of ``u<i>`` units
  without a fleet of record (a writer that did not record its fleet), whose
  they are is unknown: dispatch is refused and nothing is recorded;
* ``--own-fleet``: the server's fleet is separate from the pipeline's; its
  unit ids are ``mcp-<fingerprint[:8]>-u<i>``, so its records never collide
  with the pipeline's (nor with another own fleet's), and the fleet of
  record is neither checked nor written.

The check runs again at every planning and dispatch call, so a pipeline that
starts (or changes fleet) while the server runs is caught too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vpp.agents import FleetConfig, FrequencyResponseConfig, fleet_meta
from vpp.errors import VppError
from vpp.io.store import Store

__all__ = [
    "FLEET_META_KEY",
    "FleetGuard",
    "FleetIdentity",
    "FleetRecordCheck",
    "fleet_fingerprint",
]

#: Store metadata key of the fleet of record (written by ``vpp run``).
FLEET_META_KEY = "fleet_config"
#: Hex digits of the fingerprint shown in messages and unit ids.
_SHORT = 12
#: Unit ids of the pipeline (and of a server on the pipeline's fleet).
_PIPELINE_UNIT = re.compile(r"u\d+")


def fleet_fingerprint(fleet: FleetConfig) -> str:
    """SHA-256 (hex) of the canonical JSON of the fleet's units, unit sites and sites."""
    units = []
    for u in fleet.units:
        d = dict(u.to_dict())
        d.pop("start_soc", None)
        units.append({k: float(v) for k, v in d.items()})
    doc = {
        "units": units,
        "unit_sites": [int(s) for s in fleet.unit_sites],
        "sites": [str(s) for s in fleet.sites],
    }
    canon = json.dumps(doc, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class FleetIdentity:
    """A fleet as reported to clients."""

    fingerprint: str
    units: int
    sites: tuple[str, ...]
    source: str

    @classmethod
    def of(cls, fleet: FleetConfig, source: str) -> FleetIdentity:
        return cls(fleet_fingerprint(fleet), len(fleet.units), tuple(fleet.sites), source)

    @property
    def short(self) -> str:
        return self.fingerprint[:_SHORT]

    def describe(self) -> str:
        return f"{self.units} unit(s) at {list(self.sites)}, fingerprint {self.short}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "units": self.units,
            "sites": list(self.sites),
            "source": self.source,
        }


@dataclass(frozen=True)
class FleetRecordCheck:
    """The server's fleet against the store's fleet of record, at one moment.

    Attributes:
        record: the fleet of record (``None``: the store has none).
        problem: why the server may not act on the store (``None``: it may).
    """

    record: FleetIdentity | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


class FleetGuard:
    """Decides whether the server's fleet may read the store's SoC and dispatch.

    Args:
        store: the store (its ``fleet_config`` metadata is the fleet of record).
        fleet: the server's fleet.
        frequency_response: its contract (recorded with the fleet).
        source: where the server's fleet came from, for messages.
        explicit: the fleet was configured (``--fleet-config``), not guessed.
        own_fleet: a fleet separate from the pipeline's (own unit ids).
        parse: turns the metadata into a fleet (``vpp.mcp.fleet.load_fleet_config``).
    """

    def __init__(
        self,
        store: Store,
        fleet: FleetConfig,
        frequency_response: FrequencyResponseConfig,
        source: str,
        *,
        explicit: bool,
        own_fleet: bool,
        parse: Callable[[Any], FleetConfig],
    ) -> None:
        self.store = store
        self.fleet = fleet
        self.fr = frequency_response
        self.identity = FleetIdentity.of(fleet, source)
        self.explicit = explicit
        self.own_fleet = own_fleet
        self._parse = parse
        if explicit and not own_fleet and self.store.get_meta(FLEET_META_KEY) is None:
            if not self._unrecorded_units():
                self.record_fleet()

    @property
    def unit_prefix(self) -> str:
        """Prefix of unit ids: ``""`` (the pipeline's ``u<i>``) or the own fleet's."""
        return f"mcp-{self.identity.fingerprint[:8]}-" if self.own_fleet else ""

    def record_fleet(self) -> None:
        """Write the server's fleet as the store's fleet of record."""
        self.store.set_meta(FLEET_META_KEY, fleet_meta(self.fleet, self.fr))

    def ensure_recorded(self) -> None:
        """Before the server writes SoC rows: make its fleet the record if there is none."""
        if not self.own_fleet and self.store.get_meta(FLEET_META_KEY) is None:
            self.record_fleet()

    def _unrecorded_units(self) -> list[str]:
        """Pipeline-style unit ids with SoC records in a store without a fleet of record.

        The server records its fleet before it writes SoC, so such records come
        from a writer that did not record its fleet: whose units they are is unknown.
        """
        latest = self.store.soc_latest()
        if not len(latest):
            return []
        units = {str(u) for u in latest["unit"]}
        return sorted((u for u in units if _PIPELINE_UNIT.fullmatch(u)), key=lambda u: int(u[1:]))

    def check(self) -> FleetRecordCheck:
        """Compare the server's fleet with the store's fleet of record now."""
        if self.own_fleet:
            return FleetRecordCheck(None, None)
        meta = self.store.get_meta(FLEET_META_KEY)
        if meta is None:
            unknown = self._unrecorded_units()
            if unknown:
                shown = ", ".join(unknown[:5]) + (", …" if len(unknown) > 5 else "")
                return FleetRecordCheck(
                    None,
                    f"the store has SoC records of units {shown} but no fleet_config: the "
                    "fleet that wrote them is unknown, so its SoC cannot be trusted for "
                    f"this server's fleet ({self.identity.describe()}); dispatch refused "
                    "— run the pipeline with `vpp run` (it records its fleet), use a "
                    "separate store, or --own-fleet",
                )
            return FleetRecordCheck(None, None)
        try:
            record = FleetIdentity.of(self._parse(meta), "store fleet_config (vpp run)")
        except (VppError, ValueError, TypeError) as exc:
            return FleetRecordCheck(
                None,
                f"the store's fleet_config metadata is unreadable ({exc}); dispatch refused",
            )
        if record.fingerprint == self.identity.fingerprint:
            return FleetRecordCheck(record, None)
        if self.explicit:
            problem = (
                f"the fleet in --fleet-config ({self.identity.describe()}) differs from the "
                f"fleet the pipeline runs in the store ({record.describe()}); dispatch refused "
                "— use the store's fleet, a separate store, or --own-fleet"
            )
        else:
            problem = (
                f"the store's fleet changed since this server started (now "
                f"{record.describe()}, server {self.identity.describe()}); dispatch refused "
                "— restart vpp mcp"
            )
        return FleetRecordCheck(record, problem)

    def report(self, check: FleetRecordCheck) -> dict[str, Any]:
        """The ``fleet_identity`` block of ``get_fleet_status``."""
        if self.own_fleet:
            soc = "own unit ids: the store's SoC of this fleet, else start_soc"
        elif check.ok:
            soc = "the store's SoC of each unit, else start_soc"
        else:
            soc = "start_soc (the store's SoC records are not this fleet's: not used)"
        return {
            "server_fleet": self.identity.to_dict(),
            "fleet_of_record": check.record.to_dict() if check.record else None,
            "mode": "own fleet" if self.own_fleet else "fleet of record",
            "unit_id_prefix": self.unit_prefix,
            "matches_record": None if check.record is None else check.ok,
            "dispatch_allowed": check.ok,
            "refusal": check.problem,
            "soc_source": soc,
        }
