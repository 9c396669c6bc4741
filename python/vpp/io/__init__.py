"""Telemetry input and the store: files → :class:`Telemetry` → store records.

Example:
    >>> from vpp.io import read_telemetry, sample_telemetry_path
    >>> tel = read_telemetry(sample_telemetry_path())
    >>> tel.signals[:3], tel.site_ids()
    (['load_mw', 'solar_mw', 'wind_mw'], ['grid'])
"""

from vpp.io.csv_reader import parse_columns_option, read_telemetry
from vpp.io.sample import sample_telemetry_path
from vpp.io.store import Store, default_store_url, open_store
from vpp.io.telemetry import Telemetry

__all__ = [
    "Store",
    "Telemetry",
    "default_store_url",
    "open_store",
    "parse_columns_option",
    "read_telemetry",
    "sample_telemetry_path",
]
