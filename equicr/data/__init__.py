"""Reading Sentinel data: GeoTIFF rasters and the SEN12MS-CR layout."""
