"""Eyelids: the eye moves as a whole in the face warp, then its lids are remapped at pixel precision."""

from __future__ import annotations

import cv2
import numpy as np

from synthvid.face import landmarks as L
from synthvid.face.canonical import canonical_face
from synthvid.reenact import transfer as T
from synthvid.reenact.eyes import eye_sets, move_lids, rigid_eyes
from synthvid.reenact.motion import FaceState, faces_in_photo
from synthvid.reenact.render import rerender


def _eye_scene() -> tuple[np.ndarray, np.ndarray]:
    """A 200 x 100 skin image with two open eyes (white, dark iris) and 478 points whose eye contours trace them."""
    img = np.full((100, 200, 3), (190, 150, 130), np.uint8)
    pts = np.zeros((L.NUM_LANDMARKS, 2))
    for contour, cx in ((L.RIGHT_EYE, 60.0), (L.LEFT_EYE, 140.0)):
        cv2.ellipse(img, (int(cx), 50), (20, 8), 0, 0, 360, (245, 245, 245), -1)
        cv2.circle(img, (int(cx), 50), 6, (30, 30, 40), -1)
        # outer corner, upper lid (8 more points to the inner corner), lower lid back: the contour's layout
        angles = np.concatenate([np.linspace(np.pi, 0, 9), np.linspace(0, -np.pi, 9)[1:-1]])
        if contour == L.LEFT_EYE:  # the left eye's outer corner is on the image's right
            angles = np.pi - angles
        for i, a in zip(contour, angles):
            pts[i] = (cx + 20 * np.cos(a), 50 - 8 * np.sin(a))
    return img, pts


def _closed(pts: np.ndarray) -> np.ndarray:
    """Both upper lids lowered onto the lower lids."""
    out = pts.copy()
    for contour in (L.RIGHT_EYE, L.LEFT_EYE):
        for i in contour[1:8]:
            out[i, 1] = 100 - pts[i, 1]
    return out


def _dark(img: np.ndarray) -> int:
    return int((img.max(-1) < 80).sum())


def test_unmoved_lids_leave_the_image_alone():
    img, pts = _eye_scene()
    assert move_lids(img, pts, pts + 0.1) is img


def test_closing_lids_cover_the_eyeball_with_lid_skin_and_keep_the_rest():
    img, pts = _eye_scene()
    assert _dark(img) > 200  # two irises
    out = move_lids(img, pts, _closed(pts))
    assert _dark(out) < 10
    white = (out.min(-1) > 235).sum()
    assert white < 0.1 * (img.min(-1) > 235).sum()
    # The lid band ends a little above and below the eye; beyond it, and beside the eyes, nothing changes.
    assert np.array_equal(out[:30], img[:30]) and np.array_equal(out[70:], img[70:])
    assert np.array_equal(out[:, :35], img[:, :35]) and np.array_equal(out[:, 165:], img[:, 165:])
    # Half closed: the iris shows, squeezed to about half its height.
    half = pts.copy()
    for contour in (L.RIGHT_EYE, L.LEFT_EYE):
        half[list(contour[1:8]), 1] = (pts[list(contour[1:8]), 1] + 50) / 2
    rows = np.flatnonzero((move_lids(img, pts, half)[:, 50:70].max(-1) < 80).any(1))
    assert 4 <= len(rows) <= 9


def test_lids_close_upside_down_and_ignore_a_wild_point():
    img, pts = _eye_scene()
    h, w = img.shape[:2]
    flip = lambda p: np.stack([w - 1 - p[:, 0], h - 1 - p[:, 1]], 1)  # noqa: E731 - a head rolled by 180 degrees
    out = move_lids(np.ascontiguousarray(img[::-1, ::-1]), flip(pts), flip(_closed(pts)))
    assert _dark(out) < 10
    wild = _closed(pts)
    wild[L.RIGHT_EYE[4], 1] = -400  # a tracking failure on one lid point: that eye is left as it is
    out = move_lids(img, pts, wild)
    assert np.array_equal(out[:, :90], img[:, :90]) and _dark(out[:, 100:]) < 5


def test_stretched_lid_is_smoothed_along_the_eye():
    img, pts = _eye_scene()
    img[30:42, 40:80] = np.where((np.arange(40) % 4 < 2)[None, :, None], 60, 200)  # lashes above the right eye
    out = move_lids(img, pts, _closed(pts))
    lid = out[44:54, 48:72].astype(float)  # where the open eye was: now lid skin stretched down from above
    assert lid.std(axis=1).mean() < 0.5 * img[30:42, 48:72].astype(float).std(axis=1).mean()


def test_closing_lid_keeps_its_lash_line_thin():
    img, pts = _eye_scene()
    for cx in (60, 140):  # a 2-px dark lash line just above each upper lid (at y = 42 in the middle)
        cv2.ellipse(img, (cx, 50), (20, 11), 0, 180, 360, (40, 30, 30), 2)
    out = move_lids(img, pts, _closed(pts))
    for cx in (60, 140):
        dark_rows = np.flatnonzero(out[:, cx - 3: cx + 4].max(-1).max(-1) < 100)
        # the lashes come down with the lid to where it closes (the lower lid, y = 58), no taller than they were
        assert len(dark_rows) and 54 <= dark_rows.min() and dark_rows.max() <= 60
        assert len(dark_rows) <= 3


def test_shut_eye_shows_a_dark_lash_line_and_a_half_open_one_its_own_look():
    img, pts = _eye_scene()
    skin = float(img[5, 5].mean())
    shut = move_lids(img, pts, _closed(pts)).astype(float).mean(-1)
    line = shut[52:62, 50:71].min(0)  # darkest row of each column where the lids meet (y = 58)
    assert np.all(line < 0.7 * skin)
    assert np.all(shut[30:40, 50:71] > 0.95 * skin)  # the lid above is skin
    half = pts.copy()
    for contour in (L.RIGHT_EYE, L.LEFT_EYE):
        half[list(contour[1:8]), 1] = (pts[list(contour[1:8]), 1] + 50) / 2
    assert np.allclose(move_lids(img, pts, half)[30:42].astype(float).mean(-1), skin, atol=0.15 * skin)


def test_opening_wider_shows_more_eyeball():
    img, pts = _eye_scene()
    wide = pts.copy()
    for contour in (L.RIGHT_EYE, L.LEFT_EYE):
        wide[list(contour[1:8]), 1] -= 4
    out = move_lids(img, pts, wide)
    assert _dark(out) > 1.1 * _dark(img)  # the iris stretches with the aperture (16 -> 20 px)
    assert (out.min(-1) > 235).sum() > 1.1 * (img.min(-1) > 235).sum()


def test_rigid_eyes_follow_a_similarity_and_ignore_lid_motion():
    src = canonical_face()[:, :2] * 100 + 200
    a = np.deg2rad(10)
    rot = 1.2 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = src @ rot.T + (15, -7)
    assert np.allclose(rigid_eyes(src, dst), dst, atol=1e-6)
    closed = dst.copy()
    closed[[159, 160, 158], 1] += 6  # the right upper lid comes down
    closed[L.LEFT_IRIS_CENTER, 0] += 2  # the left iris looks aside
    out = rigid_eyes(src, closed)
    assert np.allclose(out[[159, 160, 158]], dst[[159, 160, 158]], atol=1e-6)
    iris = [L.LEFT_IRIS_CENTER, *L.LEFT_IRIS]
    assert np.allclose(out[iris] - dst[iris], (2, 0), atol=1e-3)
    eye, _, _ = eye_sets()
    assert np.allclose(out[eye == -1], closed[eye == -1])


def test_rerendered_blink_reads_as_closed_to_the_face_tracker(portraits):
    image = portraits["astronaut"]
    face = max(faces_in_photo(image), key=lambda f: f.size)
    st = FaceState.of(face.landmarks)
    closed = st.frontal.copy()
    for top, bottom in ((L.RIGHT_EYE[1:8], L.RIGHT_EYE[15:8:-1]), (L.LEFT_EYE[1:8], L.LEFT_EYE[15:8:-1])):
        closed[list(top), :2] = closed[list(bottom), :2]
    r = rerender(image, st.landmarks, st.pose, closed, st.pose, "none")
    after = max(faces_in_photo(r.frame), key=lambda f: f.size)
    before = L.eye_opening(face.landmarks)
    assert L.eye_opening(after.landmarks) < 0.5 * before
    # Away from the eyes, the picture is the original one.
    x0, y0 = face.landmarks[:, :2].min(0).astype(int)
    assert np.abs(r.frame[: y0].astype(int) - image[: y0]).max() <= 2
    assert np.isclose(T.place(closed, st.pose)[159, 1], r.landmarks[159, 1], atol=1e-3)
