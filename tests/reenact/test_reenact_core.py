"""Reenactment building blocks: landmark warp, expression/pose transfer, neutral choice, mouth interiors,
mouth retrieval and the built-in performance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from synthvid.errors import InputError
from synthvid.face import landmarks as L
from synthvid.face.canonical import canonical_face
from synthvid.face.pose import euler_to_rotation
from synthvid.reenact import transfer as T
from synthvid.reenact.motion import FaceState, Motion, fill_missing
from synthvid.reenact.mouth import paint_interior
from synthvid.reenact.render import rerender
from synthvid.reenact.retrieve import PARTS, PartBank
from synthvid.reenact.sequence import builtin_performance, expression_basis, loudness_envelope
from synthvid.reenact.warp import piecewise_affine_map, warp_image


def _texture(h: int = 96, w: int = 96) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    return img


def _posed_face(yaw: float = 0.0, scale: float = 60.0, center=(128.0, 128.0)) -> np.ndarray:
    pose = T.make_pose(euler_to_rotation(yaw, 0, 0), np.array([*center, 0.0]), scale)
    return T.place(canonical_face(), pose)


def test_identity_warp_leaves_image_unchanged():
    img = _texture()
    pts = np.array([[30, 30], [60, 35], [45, 60], [40, 45]], dtype=np.float32)
    assert np.array_equal(warp_image(img, pts, pts), img)


def test_warp_moves_content_with_points_and_keeps_outside():
    img = np.zeros((120, 120, 3), np.uint8)
    img[58:62, 48:52] = 255  # a bright dot at (50, 60)
    src = np.array([[40, 50], [60, 50], [50, 70], [50, 60]], dtype=np.float32)
    dst = src + np.array([6.0, 0.0], dtype=np.float32)
    m = piecewise_affine_map(src, dst, img.shape[:2], box=(20, 30, 90, 95), step=2)
    out = m.apply(img)
    ys, xs = np.nonzero(out[..., 0] > 128)
    assert abs(xs.mean() - 55.5) < 1.0 and abs(ys.mean() - 59.5) < 1.0
    assert np.array_equal(out[:30], img[:30]) and np.array_equal(out[:, 90:], img[:, 90:])
    assert 5.0 < m.displacement() < 7.0


def test_warp_rejects_mismatched_points():
    with pytest.raises(InputError, match="matching sets"):
        piecewise_affine_map(np.zeros((5, 2)), np.zeros((4, 2)), (50, 50))


def test_parse_parts():
    assert T.parse_parts("pose, gaze") == {"expression", "pose", "gaze"}
    with pytest.raises(InputError, match="unknown part to transfer: smile"):
        T.parse_parts("pose,smile")


def test_transfer_of_neutral_is_target_neutral_and_scales_mouth():
    src = canonical_face().copy()
    tgt = canonical_face().copy()
    lower = tgt[:, 1] > tgt[2, 1]
    tgt[lower, 0] *= 1.3  # a target with a 30% wider lower face (and mouth)
    tr = T.ExpressionTransfer(src, tgt, T.parse_parts("blink"))
    np.testing.assert_allclose(tr(src), tgt, atol=1e-6)
    moved = src.copy()
    moved[L.MOUTH_LEFT, 0] += 0.05  # the driver widens the mouth corner
    out = tr(moved)
    assert out[L.MOUTH_LEFT, 0] - tgt[L.MOUTH_LEFT, 0] == pytest.approx(0.05 * 1.3, rel=1e-3)


def test_blink_and_gaze_only_when_asked():
    src = canonical_face().copy()
    closed = src.copy()
    closed[[159, 160, 158], 1] += 0.05  # upper lid of the right eye down
    closed[L.RIGHT_IRIS_CENTER, 0] += 0.03  # looking sideways
    with_blink = T.ExpressionTransfer(src, src, T.parse_parts("blink,gaze"))(closed)
    no_blink = T.ExpressionTransfer(src, src, T.parse_parts(""))(closed)
    # Lid motion is counted from the gap at which the tracker reads a shut eye, so it grows by gap / (gap - shut).
    width, gap = L.eye_size(src, "right")
    assert with_blink[159, 1] - src[159, 1] == pytest.approx(0.05 * gap / (gap - T.SHUT_EYE_GAP * width), abs=1e-5)
    assert with_blink[L.RIGHT_IRIS_CENTER, 0] - src[L.RIGHT_IRIS_CENTER, 0] == pytest.approx(0.03, abs=1e-5)
    # Without blink/gaze the eye moves only as a whole (here: by the small mean shift of its points).
    assert abs(no_blink[159, 1] - no_blink[145, 1] - (src[159, 1] - src[145, 1])) < 1e-5


def test_transfer_pose_relative_motion_and_clamp():
    sn = T.make_pose(np.eye(3), np.array([100.0, 100.0, 0.0]), 50.0)
    tn = T.make_pose(euler_to_rotation(5, 0, 0), np.array([300.0, 200.0, 0.0]), 100.0)
    assert T.transfer_pose(sn, sn, tn).yaw == pytest.approx(5.0, abs=1e-4)
    turned = T.make_pose(euler_to_rotation(12, 0, 0), np.array([110.0, 100.0, 0.0]), 55.0)
    out = T.transfer_pose(turned, sn, tn)
    assert out.yaw == pytest.approx(17.0, abs=0.1)
    assert out.translation[0] == pytest.approx(320.0) and out.scale == pytest.approx(110.0)
    clamped, flag = T.clamp_pose(T.make_pose(euler_to_rotation(70, 0, 0), np.zeros(3), 1.0))
    assert flag and clamped.yaw == pytest.approx(T.MAX_YAW, abs=1e-3)
    assert T.clamp_pose(sn) == (sn, False)


def test_neutral_index_prefers_closed_mouth_and_open_eyes():
    base = canonical_face().copy()
    frames = []
    for k in range(5):
        f = base.copy()
        f[[87, 14, 317, 178, 88, 95, 402, 318, 324], 1] += 0.08 * (k != 3)  # lower lip down except frame 3
        frames.append(f)
    poses = [T.make_pose(np.eye(3), np.zeros(3), 1.0)] * 5
    assert T.neutral_index(np.stack(frames), poses) == 3


def test_rerender_without_change_is_identity_and_with_pose_moves_head():
    img = _texture(400, 400)
    pts = _posed_face(scale=50.0, center=(200.0, 200.0))
    st = FaceState.of(pts)
    same = rerender(img, st.landmarks, st.pose, st.frontal, st.pose, mouth="none")
    assert np.abs(same.frame.astype(int) - img).max() <= 1
    turned = T.make_pose(euler_to_rotation(0, 0, 10), st.pose.translation, st.pose.scale)
    moved = rerender(img, st.landmarks, st.pose, st.frontal, turned, mouth="none")
    assert np.abs(moved.landmarks[:, :2] - pts[:, :2]).max() > 5
    assert np.array_equal(moved.frame[:5], img[:5])  # far from the head nothing changes


def test_paint_interior_only_when_open():
    frame = np.full((256, 256, 3), 170, np.uint8)
    closed = _posed_face()
    inner = list(L.LIPS_INNER)
    closed[inner, 1] = closed[[13, 14], 1].mean()  # lips together
    assert L.mouth_opening(closed) < 0.01 and paint_interior(frame, closed) is frame
    opened = closed.copy()
    opened[inner[11:], 1] += 14  # drop the lower inner lip by 14 px
    out = paint_interior(frame, opened)
    inner = opened[list(L.LIPS_INNER), :2]
    cx, cy = inner.mean(0).round().astype(int)
    cavity = out[cy + 3, cx].mean()
    assert cavity < 120  # the cavity is dark
    assert out[cy - 8: cy + 1, cx - 4: cx + 4].max() > cavity + 80  # upper teeth are light


def test_mouth_bank_retrieves_nearest_shape_and_continues():
    bank = PartBank()
    face = _posed_face()
    img = _texture(256, 256)
    shapes = []
    for k in range(6):
        f = canonical_face().copy()
        f[list(L.LIPS_INNER[11:]), 1] += 0.02 * k
        shapes.append(f)
        bank.add(img, T.place(f, FaceState.of(face).pose), f, k)
    assert bank.query("mouth", shapes[4]) == 4
    assert bank.query("mouth", shapes[4]) in (4, 5)  # staying or moving on costs less than jumping
    assert bank.query("mouth", shapes[2], current=2) == 2  # the frame being rendered is preferred
    out = bank.paste("mouth", img, T.place(shapes[4], FaceState.of(face).pose), 4)
    assert out.shape == img.shape and not np.array_equal(out, img)
    eye = bank.paste("right_eye", img, T.place(shapes[1], FaceState.of(face).pose), 1)
    assert eye.shape == img.shape and not np.array_equal(eye, img)
    # Every frame in the bank has open eyes: none is pasted over an eye that should be shut (the warp's is kept).
    shut = shapes[1].copy()
    top, bottom = list(L.RIGHT_EYE[1:8]), list(L.RIGHT_EYE[15:8:-1])
    shut[top, 1] = shut[bottom, 1]
    wanted = T.place(shut, FaceState.of(face).pose)
    assert bank.eye_opening("right_eye", 1) - L.eye_size(wanted, "right")[1] / L.eye_size(wanted, "right")[0] > 0.08
    assert bank.paste("right_eye", img, wanted, 1) is img


def test_builtin_performance_follows_envelope_and_blinks():
    assert set(expression_basis()) >= {"mouth_open", "eye_open_right", "smile"}
    fps, n = 25, 200
    env = (np.sin(np.arange(n) / 3.0) > 0.3).astype(np.float32)
    states = builtin_performance(n, fps, env)
    assert len(states) == n
    np.testing.assert_allclose(states[0].frontal, canonical_face(), atol=1e-6)
    mouth = np.array([L.mouth_opening(s.frontal) for s in states])
    talk = slice(0, 80)  # before the smile starts
    assert np.corrcoef(mouth[talk], env[talk])[0, 1] > 0.9
    eyes = np.array([L.eye_opening(s.frontal) for s in states])
    assert eyes[40] < 0.5 * eyes[0]  # blinking at 1.6 s
    assert max(abs(s.pose.yaw) for s in states) > 10


def test_loudness_envelope_and_motion_helpers():
    audio = np.concatenate([np.zeros(1600), np.ones(1600)]).astype(np.float32)
    env = loudness_envelope(audio, 16000, 10, 2)
    np.testing.assert_allclose(env, [0, 1])
    faces, found = fill_missing([None, np.ones((3, 3)), None], "clip")
    assert found.tolist() == [False, True, False] and all(f is faces[1] for f in faces)
    st = FaceState.of(_posed_face())
    m = Motion(30.0, (256, 256), [st] * 30, np.ones(30, bool)).resample(25.0)
    assert len(m) == 25 and m.fps == 25.0


def test_a_part_from_a_smaller_face_lands_in_place():
    """Landmarks put pixel centres at i + 0.5, warps at i: the bank keeps the crop's index coordinates, so a part
    taken from a frame whose face is half the size is not half a pixel off (mean error 5.2 grey levels before)."""
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32)
    big = (127.5 + 90 * np.dstack([np.sin(xx / 7), np.sin(yy / 6), np.sin((xx + yy) / 9)])).astype(np.uint8)
    face = _posed_face(scale=120.0, center=(256.0, 256.0))
    small = cv2.resize(big, (256, 256), interpolation=cv2.INTER_AREA)  # the same picture, face half the size
    for part in ("right_eye", "mouth"):
        bank = PartBank()
        bank.add(small, face / 2, canonical_face(), 0)
        pts = face[list(PARTS[part].warp), :2]
        (x0, y0), (x1, y1) = np.floor(pts.min(0)).astype(int) + 4, np.ceil(pts.max(0)).astype(int) - 4
        patch, inside = bank.warp_patch(part, face, 0, (x0, y0, x1, y1))
        err = np.abs(patch.astype(int) - big[y0:y1, x0:x1].astype(int))[inside > 0.99]
        assert err.size > 100 and err.mean() < 1.5


def test_a_source_eye_read_as_shut_shuts_the_target_eye():
    src = canonical_face().copy()
    tgt = canonical_face().copy()
    top, bottom = list(L.EYE_LIDS["right"][0]), list(L.EYE_LIDS["right"][1])
    tgt[top, 1] -= 0.03  # a target with wider-open eyes than the source
    width, gap = L.eye_size(src, "right")
    shut = src.copy()
    # the source's lids come to the gap at which the tracker reads a real shut eye
    shut[top, 1] += gap - T.SHUT_EYE_GAP * width
    out = T.ExpressionTransfer(src, tgt, T.parse_parts("blink"))(shut)
    assert abs(np.mean(out[bottom, 1] - out[top, 1])) < 0.01 * width  # shut, though the target's eye opens wider
    assert L.eye_size(tgt, "right")[1] > 1.1 * gap
