"""Writing collections: every way data enters a Zarr collection, each resumable, all through two writers.

- :mod:`equicr.ingest.patches`: the one resumable patch writer (lease, open or create, skip what is
  complete, write, cloud cover, mark each patch complete), used by every patch ingest;
- :mod:`equicr.ingest.scenes`: the one scene writer (create or resume a scene, write and mark it
  window by window, finish it once every window is done);
- :mod:`equicr.ingest.geotiffs`: SEN12MS-CR trees, real triplets and optical pairs, co-registered
  scene GeoTIFFs, and the real-cloud test bench;
- :mod:`equicr.ingest.simulated`: seeded synthetic patches and scenes, and composites (simulated
  clouds over real clear ground);
- :mod:`equicr.ingest.stac`: STAC catalogs of Sentinel-2 L1C and Sentinel-1 items to scenes.

Reading formats and sources stays in :mod:`equicr.data` and :mod:`equicr.stac`; work runs here or
as Ray tasks through :mod:`equicr.executors`.
"""
