"""Batch declouding of scenes collections: tiling with halos, predictors, the Ray Data pipeline, GeoTIFF export."""
