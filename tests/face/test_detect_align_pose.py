"""Detection, alignment, head pose, masks and tracking on the bundled public-domain portraits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.face.align import align_face, alignment_matrix, rescale_crop_matrix, template_points, warp_face
from synthvid.face.canonical import canonical_face
from synthvid.face.detect import DetectedFace, FaceDetector, box_of, detect_faces, has_detail
from synthvid.face.geometry import transform_points
from synthvid.composite.blend import feather_mask
from synthvid.face.masks import component_masks, face_hull_mask, loss_weights
from synthvid.face.pose import estimate_head_pose, euler_to_rotation, frontalize
from synthvid.face.track import FaceTracker, box_iou


@pytest.fixture(scope="module")
def astronaut_face(portraits):
    faces = detect_faces(portraits["astronaut"])
    assert len(faces) == 1
    return faces[0]


def test_detects_the_astronaut_with_478_landmarks(astronaut_face):
    pts = astronaut_face.landmarks
    assert pts.shape == (478, 3) and pts.dtype == np.float32
    x0, y0, x1, y1 = astronaut_face.box
    # The astronaut's face lies roughly within x 170-290, y 50-200 of the 512 x 512 image.
    assert 150 < x0 < 200 and 260 < x1 < 320 and 40 < y0 < 100 and 170 < y1 < 230
    right, left = pts[L.RIGHT_EYE_OUTER, 0], pts[L.LEFT_EYE_OUTER, 0]
    assert right < left  # subject's right eye on the image's left


def test_no_face_in_a_blank_image_and_bad_input():
    assert detect_faces(np.full((200, 200, 3), 128, np.uint8)) == []
    with pytest.raises(InputError, match="uint8"):
        detect_faces(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(InputError):
        FaceDetector(max_faces=0)


def test_a_tracked_face_is_not_carried_into_flat_frames(portraits, astronaut_face):
    image = portraits["astronaut"]
    assert has_detail(image, astronaut_face)
    dark = (image.astype(np.float32) * 0.12).astype(np.uint8)  # a face in near darkness still has detail
    assert has_detail(dark, astronaut_face)
    flat = np.full_like(image, 40) + np.random.default_rng(0).integers(0, 5, image.shape, dtype=np.uint8)
    assert not has_detail(flat, astronaut_face)
    assert not has_detail(image, DetectedFace(astronaut_face.landmarks, (600.0, 600.0, 700.0, 700.0)))  # off-frame
    with FaceDetector(video=True) as det:  # tracking mode: the face is followed, then the picture cuts to flat grey
        assert len(det.detect(image)) == 1 and len(det.detect(image)) == 1
        assert det.detect(flat) == [] and det.detect(flat) == []
        assert len(det.detect(image)) == 1


def test_several_faces_largest_first(portraits):
    a = cv2.resize(portraits["astronaut"], (400, 400))  # face about 95 px
    b = cv2.resize(portraits["hopper"], (150, 176))  # face about 55 px
    canvas = np.full((420, 600, 3), 90, np.uint8)
    canvas[10:410, 0:400] = a
    canvas[100:276, 430:580] = b
    faces = detect_faces(canvas, max_faces=4)
    assert len(faces) == 2
    assert faces[0].size > faces[1].size and faces[0].center[0] < 400 < faces[1].center[0]
    assert len(detect_faces(canvas, max_faces=1)) == 1


def test_small_face_found_by_the_full_range_detector(portraits):
    small = cv2.resize(portraits["astronaut"], (128, 128), interpolation=cv2.INTER_AREA)
    canvas = np.full((720, 1280, 3), 60, np.uint8)
    canvas[500:628, 1000:1128] = small
    faces = detect_faces(canvas)
    assert len(faces) == 1
    cx, cy = faces[0].center
    assert 1000 < cx < 1128 and 500 < cy < 628
    # The tiled search is what finds a face this small; tiled=False (frequent identity-scan samples) skips it.
    with FaceDetector(max_faces=5, video=False) as detector:
        assert detector.detect(canvas, tiled=False) == []
        assert len(detector.detect(canvas, tiled=True)) == 1


def test_alignment_puts_stable_points_on_the_template(portraits, astronaut_face):
    crop, m = align_face(portraits["astronaut"], astronaut_face.landmarks, 128, 0.8)
    assert crop.shape == (128, 128, 3)
    placed = transform_points(astronaut_face.landmarks, m)[list(L.STABLE), :2]
    err = np.linalg.norm(placed - template_points(128, 0.8), axis=1).mean()
    assert err < 128 * 0.03  # a real face differs from the mean face by a few percent
    # Same geometry at another size/coverage via rescale_crop_matrix.
    m2 = rescale_crop_matrix(m, 128, 0.8, 256, 0.6)
    np.testing.assert_allclose(m2, alignment_matrix(astronaut_face.landmarks, 256, 0.6), atol=1e-3)


def test_warp_face_antialiases_large_reductions(portraits, astronaut_face):
    big = cv2.resize(portraits["astronaut"], (2048, 2048), interpolation=cv2.INTER_CUBIC)
    pts = astronaut_face.landmarks * np.array([4, 4, 4], np.float32)
    m = alignment_matrix(pts, 64, 0.8)
    reference = cv2.resize(warp_face(big, alignment_matrix(pts, 512, 0.8), 512), (64, 64), interpolation=cv2.INTER_AREA)
    naive = cv2.warpAffine(big, m, (64, 64), flags=cv2.INTER_LINEAR)
    ours = warp_face(big, m, 64)
    err = lambda x: np.abs(x.astype(float) - reference).mean()  # noqa: E731
    assert err(ours) < err(naive)


def test_head_pose_recovers_known_rotation():
    c = canonical_face().astype(np.float64)
    rot = euler_to_rotation(20.0, -10.0, 5.0)
    pts = (120.0 * c @ rot.T + np.array([300.0, 200.0, 0.0])).astype(np.float32)
    pose = estimate_head_pose(pts)
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((20.0, -10.0, 5.0), abs=0.01)
    assert pose.scale == pytest.approx(120.0, rel=1e-4)
    np.testing.assert_allclose(frontalize(pts, pose), c, atol=1e-4)


def test_astronaut_pose_is_near_frontal(astronaut_face):
    pose = estimate_head_pose(astronaut_face.landmarks)
    assert abs(pose.yaw) < 20 and abs(pose.roll) < 15


def test_masks(astronaut_face):
    pts = astronaut_face.landmarks
    shape = (512, 512)
    hull = face_hull_mask(pts, shape)
    x0, y0, x1, y1 = (int(v) for v in astronaut_face.box)
    assert hull[(y0 + y1) // 2, (x0 + x1) // 2] == 1.0 and hull[5, 5] == 0.0
    assert hull[:, : x0 - 2].max() == 0.0
    soft = feather_mask(hull, 10)
    assert np.all(soft <= hull + 1e-6) and 0 < soft[soft > 0].min() < 1
    parts = component_masks(pts, shape)
    mouth = pts[list(L.LIPS_OUTER), :2].mean(0).round().astype(int)
    assert parts["mouth"][mouth[1], mouth[0]] == 1.0 and parts["eyes"][mouth[1], mouth[0]] == 0.0
    w = loss_weights(pts, shape, eyes=3, mouth=4, face=1, background=0.2)
    assert w[mouth[1], mouth[0]] == pytest.approx(4.0) and w[5, 5] == pytest.approx(0.2)
    with pytest.raises(InputError):
        loss_weights(pts, shape, eyes=-1)


def test_tracker_keeps_identities_and_smooths():
    rng = np.random.default_rng(0)
    base = canonical_face() * 60 + np.array([100, 100, 0], np.float32)
    tracker = FaceTracker(fps=30)
    ids = []
    raw, smooth = [], []
    for i in range(30):
        a = base + np.array([i, 0, 0], np.float32) + rng.normal(0, 0.8, base.shape).astype(np.float32)
        b = base + np.array([300, 0, 0], np.float32)
        tracks = tracker.update([DetectedFace(a, box_of(a)), DetectedFace(b, box_of(b))], i)
        ids.append((tracks[0].track_id, tracks[1].track_id))
        raw.append(a)
        smooth.append(tracks[0].smoothed)
    assert set(ids) == {(0, 1)}
    jitter = lambda s: np.abs(np.diff(np.stack(s)[:, :, :2], 2, axis=0)).mean()  # noqa: E731
    assert jitter(smooth) < 0.5 * jitter(raw)
    far = base + np.array([0, 250, 0], np.float32)
    assert tracker.update([DetectedFace(far, box_of(far))], 30)[0].track_id == 2
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)


def test_quiet_native_stderr_overlapping_in_two_threads_restores_stderr():
    import os
    import threading

    from synthvid.face.detect import quiet_native_stderr

    def same_file(a: os.stat_result, b: os.stat_result) -> bool:
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)

    before = os.fstat(2)
    b_entered, a_left = threading.Event(), threading.Event()
    seen = {}

    def first() -> None:
        with quiet_native_stderr():
            b_entered.wait(5)
        a_left.set()

    def second() -> None:
        with quiet_native_stderr():
            b_entered.set()
            a_left.wait(5)
            seen["after_first_left"] = os.fstat(2)  # the first block has left; this one is still inside

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not same_file(seen["after_first_left"], before)  # still silenced while the second block runs
    assert same_file(os.fstat(2), before)  # restored once both have left
