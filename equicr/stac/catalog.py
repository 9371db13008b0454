"""Finding Sentinel items: a static STAC catalog (local or object storage) or a STAC API, filtered.

A static catalog is read with pystac through fsspec (so ``s3://`` works like a path); a STAC API
(an ``http(s)`` URL that is not a ``.json`` file) is searched with pystac-client, signed where the
API needs it (:mod:`equicr.stac.access`). Both give ``pystac.Item`` objects whose asset hrefs are
absolute. Sentinel-2 and Sentinel-1 may come from different places: each is a :class:`CatalogSource`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import fsspec
import pystac
from pystac.stac_io import DefaultStacIO

from equicr.errors import UserError
from equicr.stac.access import resolve_signing, search_modifier
from equicr.storage import normalise, redact


class CatalogError(UserError):
    """A catalog cannot be read, or a search finds nothing."""


class FsspecStacIO(DefaultStacIO):
    """pystac's reader and writer for any fsspec location (local, ``s3://``, ...); http stays pystac's own."""

    def read_text(self, source, *args, **kwargs) -> str:  # noqa: D102
        href = normalise(str(source))
        if href.startswith(("http://", "https://")):
            return super().read_text(source, *args, **kwargs)
        with fsspec.open(href, "r") as file:
            return file.read()

    def write_text(self, dest, txt: str, *args, **kwargs) -> None:  # noqa: D102
        with fsspec.open(normalise(str(dest)), "w", auto_mkdir=True) as file:
            file.write(txt)


def is_api(location: str) -> bool:
    """Whether ``location`` names a STAC API (searched with pystac-client) rather than a static catalog file."""
    return location.startswith(("http://", "https://")) and not location.endswith(".json")


@dataclass(frozen=True)
class CatalogSource:
    """Where one sensor's items are searched: a catalog or API, its collections, time window and link signing.

    ``signing`` is what :func:`equicr.stac.access.resolve_signing` gives ("planetary-computer" or None);
    :meth:`of` resolves it from the location and the user's ``--sign``.
    """

    location: str
    collections: tuple[str, ...] | None = None
    interval: str | None = None
    signing: str | None = None

    @classmethod
    def of(cls, location: str, collections=None, interval: str | None = None, sign: str = "auto") -> CatalogSource:
        """A source with its signing resolved (``sign``: auto, planetary-computer or none)."""
        return cls(location, tuple(collections) if collections else None, interval, resolve_signing(location, sign))

    def widened(self, days: float) -> CatalogSource:
        """The same source with its time window widened by ``days`` at both ends (open ends stay open)."""
        if not self.interval:
            return self
        start, stop = parse_interval(self.interval)
        start = None if start is None else start - timedelta(days=days)
        stop = None if stop is None else stop + timedelta(days=days)
        ends = (".." if end is None else end.isoformat().replace("+00:00", "Z") for end in (start, stop))
        return replace(self, interval="/".join(ends))


def find_items(
    source: CatalogSource | str, bbox: tuple[float, float, float, float] | None = None, required: bool = True
) -> list[pystac.Item]:
    """Items of a catalog or API within ``bbox`` (lon/lat) and the source's collections and ISO interval.

    Raises:
        CatalogError: the catalog cannot be read, or (when ``required``) no item matches.
    """
    source = source if isinstance(source, CatalogSource) else CatalogSource.of(source)
    location, interval = source.location, source.interval
    collections = list(source.collections) if source.collections else None
    try:
        if is_api(location):
            from pystac_client import Client

            client = Client.open(location, modifier=search_modifier(source.signing))
            items = list(client.search(bbox=bbox, datetime=interval, collections=collections).items())
        else:
            catalog = pystac.Catalog.from_file(normalise(location), stac_io=FsspecStacIO())
            items = [item for item in catalog.get_items(recursive=True) if _matches(item, bbox, interval, collections)]
    except (OSError, pystac.STACError, ValueError) as error:
        raise CatalogError(f"{redact(location)}: cannot read the STAC catalog ({error})") from error
    except Exception as error:  # pystac-client's APIError and requests' errors: the API refused or is unreachable
        if type(error).__module__.split(".")[0] not in ("pystac_client", "requests", "urllib3"):
            raise
        raise CatalogError(f"{redact(location)}: the STAC API search failed ({error})") from error
    if not items and required:
        raise CatalogError(
            f"{redact(location)}: no item matches the search (bbox {bbox}, datetime {interval}, collections "
            f"{collections}); nothing was ingested"
        )
    return items


def _matches(item: pystac.Item, bbox, interval: str | None, collections: list[str] | None) -> bool:
    if collections and item.collection_id not in collections:
        return False
    if bbox is not None and item.bbox is not None:
        west, south, east, north = item.bbox
        if west > bbox[2] or east < bbox[0] or south > bbox[3] or north < bbox[1]:
            return False
    if interval:
        start, stop = parse_interval(interval)
        when = item.datetime or item.common_metadata.start_datetime
        if when is None or (start and when < start) or (stop and when > stop):
            return False
    return True


def parse_interval(interval: str) -> tuple[datetime | None, datetime | None]:
    """An ISO 8601 instant or interval ("a/b", either end ".." or empty for open) as (start, stop)."""
    ends = interval.split("/")
    if len(ends) > 2:
        raise CatalogError(f"--datetime {interval!r} is neither an instant nor an interval a/b")
    parsed = [None if end in ("", "..") else _parse_datetime(end) for end in ends]
    return (parsed[0], parsed[0]) if len(parsed) == 1 else (parsed[0], parsed[1])


def _parse_datetime(text: str) -> datetime:
    from pystac.utils import str_to_datetime

    try:
        return str_to_datetime(text if "T" in text else f"{text}T00:00:00Z")
    except ValueError as error:
        raise CatalogError(f"--datetime: {text!r} is not an ISO 8601 date or date-time") from error
