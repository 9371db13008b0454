"""Sentinel products in: STAC catalogs (static or API) to decloud-ready scenes, and STAC items for the outputs.

This module imports nothing, so job ``--help`` can read its defaults without loading pystac or GDAL.
"""

#: Default pairing distance between an S2 and an S1 acquisition, in days.
DEFAULT_MAX_DAYS = 3.0
