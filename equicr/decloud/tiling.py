"""Work units of a scene: output tiles aligned with the output chunks, read with a halo.

Tiled inference equals whole-image inference when each tile is read with a halo of at least the
network's receptive-field radius and cropped back. At the scene border the halo is clipped to the
scene, so the tile's edge is the scene's edge and the network sees the same zero padding as on the
whole image: the result is exact everywhere, borders included, up to float round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

from equicr.errors import UserError

#: Output tile side in pixels: one work unit and one output chunk. Each unit is read with a halo
#: (34 px for the full model), so small tiles spend most of their time on the halo: 256-px tiles
#: compute 1.6x the pixels they write, 1024-px tiles 1.14x (bench/decloud.py). The activations of a
#: full-size EquiCR on a 1092-px window take about 3 GB each in float32: lower --tile-size for
#: accelerators with less than about 16 GB.
DEFAULT_TILE_SIZE = 1024


@dataclass(frozen=True)
class Window:
    """A half-open pixel rectangle [row_start, row_stop) x [col_start, col_stop)."""

    row_start: int
    row_stop: int
    col_start: int
    col_stop: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, cols) slices for numpy and zarr."""
        return slice(self.row_start, self.row_stop), slice(self.col_start, self.col_stop)


@dataclass(frozen=True)
class WorkUnit:
    """One output tile of one scene: where it lands, and the larger window read to compute it."""

    scene: str
    tile_row: int
    tile_col: int
    core: Window
    read: Window

    @property
    def crop(self) -> tuple[slice, slice]:
        """Where the core lies inside the read window."""
        top, left = self.core.row_start - self.read.row_start, self.core.col_start - self.read.col_start
        return slice(top, top + self.core.row_stop - self.core.row_start), slice(
            left, left + self.core.col_stop - self.core.col_start
        )


def tile_grid(height: int, width: int, tile_size: int) -> tuple[int, int]:
    """Number of tile rows and columns covering a scene."""
    return -(-height // tile_size), -(-width // tile_size)


def unit_at(scene: str, height: int, width: int, tile_size: int, halo: int, tile_row: int, tile_col: int) -> WorkUnit:
    """The work unit at one tile position: its core tile and the halo-extended window, clipped to the scene."""
    if tile_size < 1 or halo < 0:
        raise UserError(f"tile_size must be positive and halo non-negative, got {tile_size}, {halo}")
    core = Window(
        tile_row * tile_size, min((tile_row + 1) * tile_size, height),
        tile_col * tile_size, min((tile_col + 1) * tile_size, width),
    )  # fmt: skip
    read = Window(
        max(core.row_start - halo, 0), min(core.row_stop + halo, height),
        max(core.col_start - halo, 0), min(core.col_stop + halo, width),
    )  # fmt: skip
    return WorkUnit(scene, tile_row, tile_col, core, read)


def plan_units(scene: str, height: int, width: int, tile_size: int, halo: int) -> list[WorkUnit]:
    """Every work unit of a scene, row by row; the last row and column may be smaller."""
    rows, cols = tile_grid(height, width, tile_size)
    return [unit_at(scene, height, width, tile_size, halo, r, c) for r in range(rows) for c in range(cols)]
