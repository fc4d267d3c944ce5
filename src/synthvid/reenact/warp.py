"""Image warping driven by landmarks: a piecewise-affine map over a Delaunay triangulation.

The map is backward (for every output pixel, where to sample the input), computed exactly at the nodes of a
coarse grid (barycentric coordinates in the triangle of the *output* landmarks that holds each node) and
interpolated between nodes as a displacement field, which is smooth at that scale. Only a region of interest
around the moving points is resampled; a frame of fixed anchor points on its border keeps the warp continuous
with the untouched rest of the image.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy.spatial import Delaunay, QhullError

from synthvid.errors import InputError
from synthvid.types import Frame, check_frame

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


@dataclasses.dataclass(frozen=True)
class WarpMap:
    """A backward map for one region: ``output[y0:y1, x0:x1] = input.remap(map_x, map_y)``."""

    box: Box
    map_x: np.ndarray  # float32, ROI shape, absolute input x
    map_y: np.ndarray

    def apply(self, image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Resample ``image`` (H x W or H x W x C) into a copy (or into ``out``), outside the box unchanged."""
        x0, y0, x1, y1 = self.box
        res = image.copy() if out is None else out
        res[y0:y1, x0:x1] = cv2.remap(image, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return res

    def displacement(self) -> float:
        """Largest distance (pixels) any output pixel samples from: 0 for an identity map."""
        x0, y0, x1, y1 = self.box
        gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        return float(np.sqrt((self.map_x - gx) ** 2 + (self.map_y - gy) ** 2).max(initial=0.0))


def region_of(points: np.ndarray, shape: tuple[int, int], margin: float = 0.2) -> Box:
    """Box around N x 2 points grown by ``margin`` x their extent on each side, clipped to the image."""
    h, w = shape
    lo, hi = points.min(0), points.max(0)
    pad = (hi - lo).max() * margin + 2
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int) + 1
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)


def _border_anchors(box: Box, per_side: int = 6) -> np.ndarray:
    x0, y0, x1, y1 = box
    xs = np.linspace(x0, x1 - 1, per_side + 1)
    ys = np.linspace(y0, y1 - 1, per_side + 1)
    top = np.stack([xs, np.full_like(xs, y0)], 1)
    bottom = np.stack([xs, np.full_like(xs, y1 - 1)], 1)
    left = np.stack([np.full_like(ys, x0), ys], 1)[1:-1]
    right = np.stack([np.full_like(ys, x1 - 1), ys], 1)[1:-1]
    return np.concatenate([top, bottom, left, right]).astype(np.float64)


def piecewise_affine_map(src: np.ndarray, dst: np.ndarray, shape: tuple[int, int], box: Box | None = None,
                         step: int = 4) -> WarpMap:
    """The map that moves the image content at ``src`` points to ``dst`` points (both N x 2, pixels).

    Args:
        src, dst: corresponding points: where features are in the input, and where they must be in the output.
        shape: (H, W) of the image.
        box: region to warp (default: around both point sets, 20% margin); its border stays fixed.
        step: grid spacing (pixels) at which the exact piecewise-affine map is evaluated.
    """
    src = np.asarray(src, dtype=np.float64)[:, :2]
    dst = np.asarray(dst, dtype=np.float64)[:, :2]
    if src.shape != dst.shape or len(src) < 3 or not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise InputError(f"warp needs two matching sets of at least 3 finite points, got {src.shape} and {dst.shape}")
    box = box or region_of(np.concatenate([src, dst]), shape)
    x0, y0, x1, y1 = box
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InputError("warp region is empty (points outside the image)")
    inside = ((dst[:, 0] > x0) & (dst[:, 0] < x1 - 1) & (dst[:, 1] > y0) & (dst[:, 1] < y1 - 1))
    anchors = _border_anchors(box)
    d_all = np.concatenate([dst[inside], anchors])
    s_all = np.concatenate([src[inside], anchors])
    map_x, map_y, _ = triangle_map(s_all, d_all, box, step)
    return WarpMap(box, map_x, map_y)


@dataclasses.dataclass(frozen=True)
class Triangulation:
    """The part of a piecewise-affine map that depends only on where the points go (``dst``): the triangulation,
    and which triangle and barycentric weights each node of the grid has. Several maps to the same ``dst`` (e.g.
    five candidate mouths warped onto one wanted mouth) share it; :meth:`map` adds the source points."""

    dst: np.ndarray  # N x 2
    box: Box
    step: int
    shape: tuple[int, int]  # (ny, nx) nodes
    grid: np.ndarray  # ny*nx x 2 node positions
    ok: np.ndarray  # bool per node: inside the triangulated area
    bary: np.ndarray  # M x 3 barycentric weights of the nodes inside
    verts: np.ndarray  # M x 3 vertex indices of their triangles

    @classmethod
    def of(cls, dst: np.ndarray, box: Box, step: int) -> Triangulation:
        dst = np.asarray(dst, dtype=np.float64)[:, :2]
        x0, y0, x1, y1 = box
        # Nodes every ``step`` pixels, one beyond the region on each side, placed at the pixel centres that an exact
        # ``step``-times bilinear enlargement (cv2.resize) maps them to: the enlarged node map is then exactly the
        # bilinear interpolation of the node values, with no half-pixel shift.
        width, height = x1 - x0, y1 - y0
        nx, ny = -(-width // step) + 2, -(-height // step) + 2
        off = (step - 1) / 2 - step
        gx = x0 + off + np.arange(nx, dtype=np.float64) * step
        gy = y0 + off + np.arange(ny, dtype=np.float64) * step
        grid = np.stack(np.meshgrid(gx, gy), -1).reshape(-1, 2)
        ok = np.zeros(len(grid), dtype=bool)
        bary, verts = np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        try:
            tri = Delaunay(dst)
        except QhullError:  # all points on a line: nothing sensible to warp
            tri = None
        if tri is not None:
            simplex = tri.find_simplex(grid)
            ok = simplex >= 0
            t = tri.transform[simplex[ok]]  # M x 3 x 2
            b01 = np.einsum("mij,mj->mi", t[:, :2], grid[ok] - t[:, 2])
            bary = np.concatenate([b01, 1 - b01.sum(1, keepdims=True)], 1)  # M x 3
            verts = tri.simplices[simplex[ok]]  # M x 3
        return cls(dst, box, step, (ny, nx), grid, ok, bary, verts)

    def map(self, src: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(map_x, map_y, inside) for source points ``src`` (N x 2, matching ``dst``): see :func:`triangle_map`."""
        src = np.asarray(src, dtype=np.float64)[:, :2]
        x0, y0, x1, y1 = self.box
        ny, nx = self.shape
        step = self.step
        disp = np.zeros_like(self.grid)
        if len(self.verts):
            disp[self.ok] = np.einsum("mk,mkd->md", self.bary, src[self.verts] - self.dst[self.verts])
        nodes = np.concatenate([self.grid + disp, self.ok[:, None]], 1).reshape(ny, nx, 3).astype(np.float32)
        full = cv2.resize(nodes, (nx * step, ny * step), interpolation=cv2.INTER_LINEAR)
        full = full[step: step + y1 - y0, step: step + x1 - x0]
        return np.ascontiguousarray(full[..., 0]), np.ascontiguousarray(full[..., 1]), full[..., 2]


def triangle_map(src: np.ndarray, dst: np.ndarray, box: Box, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Piecewise-affine backward map over the triangulation of ``dst``, for the pixels of ``box``.

    Returns (map_x, map_y, inside): absolute positions in the image of ``src`` for every pixel of the box, and a
    float mask of the pixels inside the triangulated area (outside it the map is the identity, i.e. no motion).
    The exact map is evaluated at nodes every ``step`` pixels and interpolated bilinearly between them.
    """
    return Triangulation.of(dst, box, step).map(src)


def warp_image(image: Frame, src: np.ndarray, dst: np.ndarray, box: Box | None = None, step: int = 4) -> Frame:
    """Move the content of ``image`` at ``src`` points to ``dst`` points (piecewise affine), outside ``box`` kept."""
    img = check_frame(image, "image")
    return piecewise_affine_map(src, dst, img.shape[:2], box, step).apply(img)
