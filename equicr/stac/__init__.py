"""Sentinel products in: STAC catalogs (static or API) to decloud-ready scenes, and STAC items for the outputs."""
