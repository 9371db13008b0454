"""Export a declouded scene as a Cloud-Optimized GeoTIFF on the scene's own grid."""

from __future__ import annotations

from pathlib import Path

import rasterio

from equicr.bands import S2_BANDS
from equicr.data.collection import open_collection, scene_georeference
from equicr.decloud.output import OUTPUT_ARRAY, DecloudError, is_complete
from equicr.storage import atomic_output

#: Internal tiling and compression of the exported files.
COG_OPTIONS = {"blocksize": 256, "compress": "deflate", "predictor": 2, "overviews": "auto"}


def export_cog(collection_path: str | Path, scene_name: str, out: str | Path) -> Path:
    """Write a completely declouded scene as a 13-band uint16 COG with its CRS, transform and band names."""
    scene = open_collection(collection_path, "scenes")["scenes"][scene_name]
    if not is_complete(scene):
        raise DecloudError(f"scene {scene_name} in {collection_path} is not completely declouded yet")
    data = scene[OUTPUT_ARRAY][:]
    geo = scene_georeference(open_collection(collection_path, "scenes"), scene_name)
    profile = {
        "driver": "COG", "width": data.shape[2], "height": data.shape[1], "count": data.shape[0],
        "dtype": "uint16", "crs": geo.crs, "transform": rasterio.Affine(*geo.transform), **COG_OPTIONS,
    }  # fmt: skip
    with atomic_output(out) as temporary, rasterio.open(temporary, "w", **profile) as dataset:
        dataset.write(data)
        dataset.descriptions = S2_BANDS
    return Path(out)
