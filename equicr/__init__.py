"""EquiCR: rotation-equivariant cloud removal for Sentinel-2 with Sentinel-1, from training to a verified ONNX file.

The notebook calls (:mod:`equicr.api`) are loaded on first use, so ``import equicr`` stays light::

    import equicr
    equicr.decloud_geotiff("s2_cloudy.tif", "declouded.tif")
"""

from __future__ import annotations

#: What ``equicr.<name>`` gives, from :mod:`equicr.api`.
API = ("decloud_geotiff", "open_patches", "open_scene")


def __getattr__(name: str):
    if name in API:
        from equicr import api

        return getattr(api, name)
    raise AttributeError(f"module 'equicr' has no attribute {name!r}")
