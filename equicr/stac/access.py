"""Access to the assets of STAC APIs that need it: Planetary Computer's signed links, requester-pays buckets.

Planetary Computer serves its assets from Azure Blob Storage through short-lived SAS tokens. A
search is signed the way its own documentation does it (pystac-client's ``modifier`` set to
``planetary_computer.sign_inplace``), and every asset is signed again just before it is opened,
from the package's token cache, so an ingest that runs for hours never opens a link whose token
has expired. Records and logs never hold a token (:func:`equicr.storage.redact`).

Requester-pays buckets (Earth Search's ``sentinel-2-l1c`` assets in ``s3://sentinel-s2-l1c``) work
through the usual AWS setting: ``AWS_REQUEST_PAYER=requester`` in the environment, which GDAL
reads for rasters and which :func:`open_binary` passes to s3fs for metadata files.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse, urlunparse

from equicr.errors import UserError

#: The one signing scheme there is so far; ``--sign`` names it.
PLANETARY_COMPUTER = "planetary-computer"
#: Hosts whose STAC API needs :data:`PLANETARY_COMPUTER` signing (``--sign auto``).
PLANETARY_COMPUTER_HOSTS = ("planetarycomputer.microsoft.com",)
#: What ``--sign`` accepts.
SIGNING_CHOICES = ("auto", PLANETARY_COMPUTER, "none")


def resolve_signing(location: str, choice: str = "auto") -> str | None:
    """The signing a catalog needs: ``choice``, where "auto" means Planetary Computer's for its own hosts."""
    if choice not in SIGNING_CHOICES:
        raise UserError(f"--sign {choice!r}: expected one of {', '.join(SIGNING_CHOICES)}")
    if choice == "auto":
        host = urlparse(location).netloc.lower()
        return PLANETARY_COMPUTER if host.endswith(PLANETARY_COMPUTER_HOSTS) else None
    return None if choice == "none" else choice


def _planetary_computer():
    try:
        import planetary_computer
    except ImportError as error:  # a dependency of the package; missing only in a broken install
        raise UserError(
            "signing Planetary Computer links needs the planetary-computer package: pip install planetary-computer"
        ) from error
    return planetary_computer


def search_modifier(signing: str | None):
    """pystac-client's ``modifier`` for a catalog's search results (signs every asset), or None."""
    return _planetary_computer().sign_inplace if signing == PLANETARY_COMPUTER else None


def unsigned(href: str, signing: str | None) -> str:
    """``href`` without the token a signed search put in it: what sources keep, records show and errors name."""
    parsed = urlparse(href)
    if signing != PLANETARY_COMPUTER or parsed.scheme not in ("http", "https"):
        return href
    return urlunparse(parsed._replace(query=""))


def signed(href: str, signing: str | None) -> str:
    """``href`` ready to open: signed afresh from the token cache for Planetary Computer, else as it is."""
    if signing != PLANETARY_COMPUTER:
        return href
    return _planetary_computer().sign_url(unsigned(href, signing))


def requester_pays() -> bool:
    """Whether the environment asks to pay for requests to requester-pays buckets (``AWS_REQUEST_PAYER``)."""
    return os.environ.get("AWS_REQUEST_PAYER", "").lower() == "requester"


def open_binary(href: str, signing: str | None = None):
    """A small file (product metadata) opened for reading through fsspec, signed or requester-pays as needed."""
    import fsspec

    options = {"requester_pays": True} if href.startswith("s3://") and requester_pays() else {}
    return fsspec.open(signed(href, signing), "rb", **options)
