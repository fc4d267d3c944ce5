"""33 body keypoints and the person's mask per frame, with MediaPipe pose (model_complexity=1, inside the wheel).

MediaPipe's pose graph follows one person. When a frame shows several, the wanted one is chosen by face: on the
first frame with people, faces are found (MediaPipe full-range face detector) and the chosen person's column of the
image (``person`` N: the N-th face from the left; 0: the largest face) is what the pose graph sees; the column then
follows the person's keypoints from frame to frame.

Keypoint order is MediaPipe's: 0 nose, 1-6 eyes, 7-8 ears, 9-10 mouth, 11-12 shoulders, 13-14 elbows, 15-16 wrists,
17-22 hands, 23-24 hips, 25-26 knees, 27-28 ankles, 29-30 heels, 31-32 toes; odd = subject's left.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import cv2
import numpy as np

from synthvid.errors import InputError
from synthvid.face.detect import _warm, mediapipe, quiet_native_stderr
from synthvid.face.landmarks import OneEuroFilter
from synthvid.types import Frame, check_frame

NUM_KEYPOINTS = 33
NOSE, LEFT_EAR, RIGHT_EAR = 0, 7, 8
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 11, 12, 23, 24
LEFT_ANKLE, RIGHT_ANKLE = 27, 28
ANKLES = (LEFT_ANKLE, RIGHT_ANKLE)
VISIBLE = 0.5  # a keypoint counts as seen above this MediaPipe visibility
MAX_SIDE = 720  # frames are shrunk to this longest side for the pose graph (its network input is 256 px anyway)


@dataclasses.dataclass
class PoseTrack:
    """A video's body poses.

    points: T x 33 x 2 float32 pixel coordinates (held from a neighbour where no person was found).
    visibility: T x 33 float32 MediaPipe visibility (0 where no person was found).
    found: T bool, whether a person was found in the frame.
    size: (width, height) of the frames; fps: frame rate.
    """

    points: np.ndarray
    visibility: np.ndarray
    found: np.ndarray
    size: tuple[int, int]
    fps: float
    people: int = 1  # people seen on the first frame with anyone in it

    def __len__(self) -> int:
        return len(self.points)

    def torso_length(self) -> np.ndarray:
        """Per frame: distance from mid-shoulders to mid-hips, in pixels (the body's scale)."""
        return torso_length(self.points)

    def save(self, path: str | os.PathLike) -> None:
        np.savez(path, points=self.points, visibility=self.visibility, found=self.found,
                 size=np.array(self.size), fps=np.array(self.fps), people=np.array(self.people))

    @classmethod
    def load(cls, path: str | os.PathLike) -> PoseTrack:
        try:
            with np.load(path, allow_pickle=False) as z:
                pts, vis, found = z["points"].astype(np.float32), z["visibility"].astype(np.float32), z["found"]
                track = cls(pts, vis, found.astype(bool), tuple(int(v) for v in z["size"]), float(z["fps"]),
                            int(z["people"]))
        except Exception as e:  # noqa: BLE001 - hostile bytes: BadZipFile, EOFError, KeyError, ValueError ...
            raise InputError(f"{path} is not a readable pose file ({(str(e).splitlines() or [type(e).__name__])[0][:100]})") from None
        if pts.ndim != 3 or pts.shape[1:] != (NUM_KEYPOINTS, 2) or vis.shape != pts.shape[:2] or len(found) != len(pts):
            raise InputError(f"{path} holds poses of the wrong shape {pts.shape}")
        return track


def torso_length(points: np.ndarray) -> np.ndarray:
    """``... x 33 x 2`` -> ``...``: mid-shoulder to mid-hip distance."""
    shoulders = points[..., [LEFT_SHOULDER, RIGHT_SHOULDER], :].mean(-2)
    hips = points[..., [LEFT_HIP, RIGHT_HIP], :].mean(-2)
    return np.linalg.norm(shoulders - hips, axis=-1)


def body_box(points: np.ndarray, visibility: np.ndarray, margin: float = 0.15) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) around the seen keypoints of one or many poses, grown by ``margin`` of the larger side."""
    seen = visibility > VISIBLE
    if not seen.any():
        seen = visibility >= 0
    p = points[seen]
    x0, y0 = p.min(0)
    x1, y1 = p.max(0)
    grow = margin * max(x1 - x0, y1 - y0, 1.0)
    return float(x0 - grow), float(y0 - grow), float(x1 + grow), float(y1 + grow)


class PoseEstimator:
    """Body keypoints and person mask, frame by frame, for one video (tracking mode) or single images.

    Args:
        video: follow one person across consecutive frames (False: every frame on its own).
        person: which person when several are seen (N: N-th face from the left; 0: the largest face).
        min_confidence: MediaPipe detection/tracking confidence.
    """

    def __init__(self, video: bool = True, person: int = 0, min_confidence: float = 0.5) -> None:
        if person < 0:
            raise InputError(f"person must be 0 (largest) or a position from the left (1, 2, ...), got {person}")
        self.video, self.person, self.min_confidence = video, person, min_confidence
        self._pose: Any = None
        self._faces: Any = None
        self._column: tuple[int, int] | None = None  # x-range (in frame pixels) the pose graph sees
        self._chosen_once = False  # a person was picked once: later re-choices never fail the run
        self._choose = True  # look for people (faces) on the next frame: at the start and after losing the person
        self.people = 0  # people seen when the person was chosen
        self._calls = 0

    def close(self) -> None:
        for graph in (self._pose, self._faces):
            if graph is not None:
                graph.close()
        self._pose = self._faces = None
        self._calls = 0

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _graphs(self) -> None:
        if self._pose is None:
            mp = mediapipe()
            # Not warmed on a blank image like the face graphs: segmentation smoothing needs one frame size throughout.
            with quiet_native_stderr():
                self._pose = mp.solutions.pose.Pose(
                    static_image_mode=not self.video, model_complexity=1, smooth_landmarks=True,
                    enable_segmentation=True, smooth_segmentation=self.video,
                    min_detection_confidence=self.min_confidence, min_tracking_confidence=self.min_confidence)
            self._faces = _warm(lambda: mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5))

    def _choose_column(self, small: Frame) -> tuple[int, int] | None:
        """Faces in the frame -> the x-range of the chosen person (None: use the whole frame)."""
        h, w = small.shape[:2]
        result = self._faces.process(small)
        boxes = []
        for d in result.detections or []:
            b = d.location_data.relative_bounding_box
            boxes.append((b.xmin * w, b.width * w, b.height * h))
        self.people = max(self.people, len(boxes))
        if self.person > len(boxes) and boxes and not self._chosen_once:
            raise InputError(f"person {self.person} was asked for, but only {len(boxes)} "
                             f"{'person is' if len(boxes) == 1 else 'people are'} seen")
        if len(boxes) < 2 or self.person > len(boxes):
            return None
        self._chosen_once = True
        order = sorted(boxes, key=lambda b: b[0])
        x, bw, bh = order[self.person - 1] if self.person else max(boxes, key=lambda b: b[1] * b[2])
        half = 2.5 * max(bw, bh)  # a body is about 3-5 face heights wide with arms out
        cx = x + bw / 2
        return max(0, int(cx - half)), min(w, int(cx + half))

    def detect(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """One RGB frame -> (33 x 2 pixel points, 33 visibilities, H x W float32 person mask), or None."""
        check_frame(frame)
        self._graphs()
        h, w = frame.shape[:2]
        scale = min(1.0, MAX_SIDE / max(h, w))
        small = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1 else np.ascontiguousarray(frame)
        if self._choose or not self.video:
            self._column = self._choose_column(small)
            self._choose = False
        x0, x1 = self._column or (0, small.shape[1])
        view = np.ascontiguousarray(small)
        if self._column is not None:  # hide the other people (the frame keeps its size: the graph needs that)
            view[:, :x0] = 0
            view[:, x1:] = 0
        if self._calls == 0:  # the graph logs native warnings on its first frames
            with quiet_native_stderr():
                result = self._pose.process(view)
        else:
            result = self._pose.process(view)
        self._calls = min(self._calls + 1, 1)
        if result.pose_landmarks is None:
            self._choose = True  # lost: look for the person again on the next frame
            return None
        lm = result.pose_landmarks.landmark
        vw, vh = view.shape[1], view.shape[0]
        pts = np.array([[p.x * vw, p.y * vh] for p in lm], dtype=np.float32) / scale
        vis = np.array([p.visibility for p in lm], dtype=np.float32)
        mask = np.zeros(small.shape[:2], np.float32)
        if result.segmentation_mask is not None:
            mask[:, x0:x1] = result.segmentation_mask[:, x0:x1]
        if scale < 1:
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
        if self._column is not None:  # follow the person: the column tracks the keypoints' horizontal extent
            sx = pts[vis > VISIBLE, 0] * scale if (vis > VISIBLE).any() else pts[:, 0] * scale
            width = max(sx.max() - sx.min(), 0.25 * small.shape[0])
            self._column = (max(0, int(sx.min() - width)), min(small.shape[1], int(sx.max() + width)))
        return pts, vis, np.clip(mask, 0, 1)


def smooth_points(points: np.ndarray, found: np.ndarray, fps: float, unit: float) -> np.ndarray:
    """One Euro filter over a T x 33 x 2 sequence (restarted after gaps), in units of ``unit`` pixels."""
    out = points.copy()
    f = OneEuroFilter(fps, min_cutoff=2.0, beta=0.7)
    for t in range(len(points)):
        if not found[t]:
            f.reset()
            continue
        out[t] = f(points[t] / unit) * unit
    return out


def hold_missing(points: np.ndarray, visibility: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames without a person take the nearest earlier pose and its visibility (the first found pose for leading
    frames); ``found`` still tells them apart."""
    pts, vis = points.copy(), visibility.copy()
    idx = np.flatnonzero(found)
    if len(idx) == 0:
        return pts, vis
    last = idx[0]
    for t in range(len(pts)):
        if found[t]:
            last = t
        else:
            pts[t], vis[t] = pts[last], vis[last]
    return pts, vis


def track_poses(frames: Any, fps: float, size: tuple[int, int], person: int = 0, on_frame: Any = None,
                count: int | None = None) -> PoseTrack:
    """Keypoints of every frame of a sequence (an iterable of RGB frames), smoothed over time.

    ``on_frame(index, frame, points, visibility, mask)`` is called for every frame (points None if nobody was
    found), e.g. to collect masks or crops while the video streams by.
    """
    pts_list, vis_list, found_list = [], [], []
    people = 0
    with PoseEstimator(video=True, person=person) as est:
        for i, frame in enumerate(frames):
            if count is not None and i >= count:
                break
            got = est.detect(frame)
            people = people or est.people or (1 if got is not None else 0)
            if got is None:
                pts_list.append(np.zeros((NUM_KEYPOINTS, 2), np.float32))
                vis_list.append(np.zeros(NUM_KEYPOINTS, np.float32))
                found_list.append(False)
                if on_frame:
                    on_frame(i, frame, None, None, None)
                continue
            p, v, m = got
            pts_list.append(p)
            vis_list.append(v)
            found_list.append(True)
            if on_frame:
                on_frame(i, frame, p, v, m)
    if not pts_list:
        raise InputError("the video has no frames")
    points, vis, found = np.stack(pts_list), np.stack(vis_list), np.array(found_list, bool)
    if found.any():
        unit = float(np.median(torso_length(points[found]))) or 1.0
        points = smooth_points(points, found, fps, max(unit, 1.0))
        points, vis = hold_missing(points, vis, found)
    return PoseTrack(points.astype(np.float32), vis, found, size, fps, max(people, 1))
