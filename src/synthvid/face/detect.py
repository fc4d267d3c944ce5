"""Face detection and 478-point landmarks with MediaPipe face mesh (legacy ``mp.solutions``, models in the wheel).

On video, the mesh runs in tracking mode: after the first detection it follows the face from its previous
landmarks, which is faster and steadier than detecting every frame. Faces that the mesh's built-in short-range
detector misses (small ones, or the smaller of several people) are found by MediaPipe's full-range face detector
and meshed on an enlarged crop.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.types import Frame, Landmarks, check_frame

_mp: Any = None
MESH_INPUT = 256  # faces are kept at least this large (pixels) in the image the mesh sees


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence C++ logging (TFLite, glog) written straight to file descriptor 2, for the duration of the block.

    Safe across threads (two videos tracked at once): the descriptor is redirected by the first block to enter
    and restored by the last to leave.
    """
    global _quiet_depth, _quiet_saved  # process-wide by nature: there is one descriptor 2
    with _quiet_lock:
        if _quiet_depth == 0:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            saved = os.dup(2)  # native code writes to the descriptor, whatever Python's sys.stderr is
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(devnull, 2)
                finally:
                    os.close(devnull)
                _quiet_saved = saved
            except BaseException:  # an interrupt or a failure half-way: stderr back, nothing leaked
                os.dup2(saved, 2)
                os.close(saved)
                raise
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _quiet_saved is not None:
                os.dup2(_quiet_saved, 2)
                os.close(_quiet_saved)
                _quiet_saved = None


_quiet_lock = threading.Lock()
_quiet_depth = 0
_quiet_saved: int | None = None


def mediapipe() -> Any:
    """Import mediapipe once, quietly (its import and graph set-up print native log lines)."""
    global _mp  # a module cache, not state: the import is the same for every caller
    if _mp is None:
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        with quiet_native_stderr():
            import mediapipe as mp  # noqa: PLC0415 - heavy import, only when faces are needed
        _mp = mp
    return _mp


@dataclasses.dataclass
class DetectedFace:
    """One face in one frame."""

    landmarks: Landmarks  # 478 x 3: x, y in frame pixels; z in the same pixel scale (smaller = nearer)
    box: tuple[float, float, float, float]  # x0, y0, x1, y1: bounding box of the landmarks, in pixels

    @property
    def size(self) -> float:
        """Geometric mean of the box's width and height, in pixels."""
        x0, y0, x1, y1 = self.box
        return float(np.sqrt(max(x1 - x0, 0) * max(y1 - y0, 0)))

    @property
    def center(self) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2], dtype=np.float32)


def box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    return (float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max()))


MIN_FACE_DETAIL = 2.5  # grey levels: a "face" whose box has less luma spread than this is no face


def has_detail(frame: Frame, face: DetectedFace) -> bool:
    """Whether the picture inside a face's box has any detail at all. In tracking mode the mesh follows a face from
    its previous landmarks and can keep "finding" it in a frame where there is none (a cut to black or to a flat
    title card: a test saw it carry a face into three flat grey frames). Eyes, brows and mouth give any real face,
    even a dark one, a luma spread of several grey levels; a flat frame with sensor noise has about one."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = face.box
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(np.ceil(x1)), w), min(int(np.ceil(y1)), h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return False
    step = max(1, max(x1 - x0, y1 - y0) // 64)  # ~64 x 64 samples are plenty
    patch = frame[y0:y1:step, x0:x1:step].astype(np.float32)
    luma = patch[..., 0] * 0.299 + patch[..., 1] * 0.587 + patch[..., 2] * 0.114 if patch.ndim == 3 else patch
    return float(luma.std()) >= MIN_FACE_DETAIL


def _to_pixels(face_landmarks: Any, width: int, height: int) -> Landmarks:
    pts = np.array([(p.x, p.y, p.z) for p in face_landmarks.landmark], dtype=np.float32)
    pts[:, 0] *= width
    pts[:, 1] *= height
    pts[:, 2] *= width  # MediaPipe scales z like x
    return pts


class FaceDetector:
    """Find faces and their 478 landmarks in RGB frames.

    Args:
        max_faces: most faces reported per frame.
        video: True to track across consecutive frames of one video (call :meth:`reset` between videos);
            False to treat every frame independently (photos).
        min_confidence: detection and tracking confidence threshold in [0, 1].
        small_faces: also search with the full-range detector when the mesh finds fewer than ``max_faces``
            (small or extra faces; costs a few ms on such frames).
        max_side: the mesh runs on the frame shrunk to this longest side, unless that would make the last face
            seen smaller than :data:`MESH_INPUT` pixels. The mesh crops each face to ~200 px internally, so
            nothing is lost on large faces, and a 720p frame costs a third as much. 0 = always full size.
    """

    def __init__(self, max_faces: int = 1, video: bool = True, min_confidence: float = 0.5,
                 small_faces: bool = True, max_side: int = 640) -> None:
        if max_faces < 1:
            raise InputError(f"max_faces must be at least 1, got {max_faces}")
        if not 0.0 <= min_confidence <= 1.0:
            raise InputError(f"min_confidence must lie in [0, 1], got {min_confidence}")
        self.max_faces, self.video, self.min_confidence, self.small_faces = max_faces, video, min_confidence, small_faces
        self.max_side = max_side
        self._last_size = 0.0  # size of the largest face in the previous frame, in frame pixels
        self._mesh: Any = None
        self._crop_mesh: Any = None
        self._finder: Any = None
        self._calls: dict[int, int] = {}

    def _make_mesh(self, static: bool, max_faces: int) -> Any:
        mp = mediapipe()
        return _warm(lambda: mp.solutions.face_mesh.FaceMesh(static_image_mode=static, max_num_faces=max_faces,
                                                             refine_landmarks=True,
                                                             min_detection_confidence=self.min_confidence,
                                                             min_tracking_confidence=self.min_confidence))

    def reset(self) -> None:
        """Forget tracking state (call between unrelated videos)."""
        self.close()

    def close(self) -> None:
        for graph in (self._mesh, self._crop_mesh, self._finder):
            if graph is not None:
                graph.close()
        self._mesh = self._crop_mesh = self._finder = None
        self._calls = {}

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect(self, frame: Frame, tiled: bool = True) -> list[DetectedFace]:
        """Faces in ``frame``, largest first. ``tiled=False`` skips the tiled search for small extra faces (the
        slowest step: about 18 detector passes on a 720p frame) when the whole-frame search finds none."""
        check_frame(frame)
        if self._mesh is None:
            self._mesh = self._make_mesh(static=not self.video, max_faces=self.max_faces)
        h, w = frame.shape[:2]
        frame = np.ascontiguousarray(frame)
        scale = self._work_scale(h, w)
        # Bilinear is enough here (the mesh resamples the face region itself) and several times cheaper than area.
        work = frame if scale == 1.0 else cv2.resize(frame, (round(w * scale), round(h * scale)),
                                                     interpolation=cv2.INTER_LINEAR)
        result = self._process(self._mesh, work)
        # Landmarks are normalised to the image, so they map back to full-size pixels whatever the working size.
        faces = [self._face(_to_pixels(lm, w, h)) for lm in (result.multi_face_landmarks or [])]
        faces = [f for f in faces if has_detail(frame, f)]
        # The mesh's own detector is short-range: it misses small faces and, among several people, the
        # smaller ones. The full-range detector fills in faces the mesh did not find.
        if self.small_faces and len(faces) < self.max_faces:
            faces += [f for f in self._detect_more(frame, faces, tiled) if has_detail(frame, f)]
        faces.sort(key=lambda f: -f.size)
        faces = faces[: self.max_faces]
        self._last_size = faces[-1].size if faces else 0.0
        return faces

    def _work_scale(self, h: int, w: int) -> float:
        if not self.max_side or max(h, w) <= self.max_side:
            return 1.0
        scale = self.max_side / max(h, w)
        if self._last_size:
            scale = max(scale, MESH_INPUT / self._last_size)
        return min(1.0, scale)

    def _process(self, graph: Any, image: np.ndarray) -> Any:
        """Run a MediaPipe graph; its first calls log native warnings, which are silenced."""
        calls = self._calls.get(id(graph), 0)
        self._calls[id(graph)] = calls + 1
        if calls < 2:
            with quiet_native_stderr():
                return graph.process(image)
        return graph.process(image)

    @staticmethod
    def _face(points: Landmarks) -> DetectedFace:
        return DetectedFace(landmarks=points, box=box_of(points))

    def _detect_more(self, frame: Frame, known: list[DetectedFace], tiled: bool = True) -> list[DetectedFace]:
        """Full-range detector for boxes (on the whole frame, then, when ``tiled``, on tiles if that finds nothing
        new), then the mesh on an enlarged crop of each box not already meshed."""
        mp = mediapipe()
        if self._finder is None:
            self._finder = _warm(lambda: mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self.min_confidence))
            self._crop_mesh = self._make_mesh(static=True, max_faces=1)
        faces: list[DetectedFace] = []
        for stage in range(2 if tiled else 1):
            boxes = self._find_boxes(frame, 0, 0, frame) if stage == 0 else self._find_boxes_tiled(frame)
            for cx, cy, side in boxes:
                if len(known) + len(faces) >= self.max_faces:
                    return faces
                if any(f.box[0] <= cx <= f.box[2] and f.box[1] <= cy <= f.box[3] for f in known + faces):
                    continue  # already meshed
                face = self._mesh_box(frame, cx, cy, side)
                if face is not None:
                    faces.append(face)
            if faces:
                break
        return faces

    def _find_boxes(self, image: Frame, x0: int, y0: int, frame: Frame) -> list[tuple[float, float, float]]:
        """Face boxes (centre x, centre y, side) found in ``image``, a region of ``frame`` at (x0, y0)."""
        h, w = image.shape[:2]
        result = self._process(self._finder, np.ascontiguousarray(image))
        out = []
        for det in result.detections or []:
            rb = det.location_data.relative_bounding_box
            out.append((x0 + (rb.xmin + rb.width / 2) * w, y0 + (rb.ymin + rb.height / 2) * h,
                        max(rb.width * w, rb.height * h)))
        return out

    def _find_boxes_tiled(self, frame: Frame) -> list[tuple[float, float, float]]:
        """The detector's 192 px input shrinks faces under ~12% of the frame beyond recognition; square tiles of
        half the frame's short side, overlapping by half, bring them back into range."""
        h, w = frame.shape[:2]
        tile = min(h, w) // 2
        if tile < 128:
            return []
        step = tile // 2
        boxes: list[tuple[float, float, float]] = []
        for y in range(0, h - tile + 1, step):
            for x in range(0, w - tile + 1, step):
                for cx, cy, side in self._find_boxes(frame[y:y + tile, x:x + tile], x, y, frame):
                    if not any(abs(cx - bx) < side / 2 and abs(cy - by) < side / 2 for bx, by, _ in boxes):
                        boxes.append((cx, cy, side))
        return boxes

    def _mesh_box(self, frame: Frame, cx: float, cy: float, side: float) -> DetectedFace | None:
        """478 landmarks of the face in a detector box, meshed on an enlarged, resampled crop."""
        side *= 2.2  # the mesh wants the face to fill about half its input
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        x1, y1 = x0 + int(round(side)), y0 + int(round(side))
        crop = _crop_padded(frame, x0, y0, x1, y1)
        if crop.shape[0] < 8:
            return None
        scale = 256.0 / crop.shape[0]
        big = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
        res = self._process(self._crop_mesh, big)
        if not res.multi_face_landmarks:
            return None
        pts = _to_pixels(res.multi_face_landmarks[0], 256, 256) / scale
        pts[:, 0] += x0
        pts[:, 1] += y0
        return self._face(pts)


def _warm(make: Any) -> Any:
    """Build a MediaPipe graph and run it once on a blank image, silently: its calculators start on worker
    threads and log native warnings when they first run, possibly after the constructor has returned."""
    with quiet_native_stderr():
        graph = make()
        graph.process(np.zeros((64, 64, 3), dtype=np.uint8))
    return graph


def _crop_padded(frame: Frame, x0: int, y0: int, x1: int, y1: int) -> Frame:
    """Crop that may extend past the frame; the outside is filled with edge pixels."""
    h, w = frame.shape[:2]
    pad = max(0, -x0, -y0, x1 - w, y1 - h)
    if pad:
        frame = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return frame[y0 + pad: y1 + pad, x0 + pad: x1 + pad]


def detect_faces(frame: Frame, max_faces: int = 5) -> list[DetectedFace]:
    """Faces in a single image (no tracking), largest first."""
    with FaceDetector(max_faces=max_faces, video=False) as detector:
        return detector.detect(frame)
