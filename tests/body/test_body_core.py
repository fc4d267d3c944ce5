"""Body stages on synthetic data: pose normalisation, pose rendering, the canvas, background estimation, the
pose-to-image networks and the pose file format (no MediaPipe needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthvid.body.background import BackgroundEstimator
from synthvid.body.keypoints import ANKLES, LEFT_HIP, NOSE, NUM_KEYPOINTS, RIGHT_HIP, PoseTrack, hold_missing
from synthvid.body.normalize import ground_of, normalise_poses
from synthvid.body.render import LIMBS, Canvas, render_pose
from synthvid.errors import InputError
from synthvid.models.pix2pix import (FaceRefiner, MultiScaleDiscriminator, Pix2PixConfig, PoseGenerator, crop_faces,
                                     face_boxes, feature_matching, paste_faces)

# A standing body 1 unit tall (nose at 0, ankles at 1), x centred on 0: keypoint -> (x, y)
_BODY = {0: (0, 0), 11: (0.12, 0.18), 12: (-0.12, 0.18), 13: (0.18, 0.35), 14: (-0.18, 0.35), 15: (0.2, 0.5),
         16: (-0.2, 0.5), 23: (0.08, 0.52), 24: (-0.08, 0.52), 25: (0.08, 0.76), 26: (-0.08, 0.76), 27: (0.08, 1.0),
         28: (-0.08, 1.0)}


def body(height: float, ankle_x: float, ankle_y: float) -> np.ndarray:
    pts = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    for k, (x, y) in _BODY.items():
        pts[k] = (ankle_x + x * height, ankle_y - (1 - y) * height)
    near = {17: 15, 19: 15, 21: 15, 18: 16, 20: 16, 22: 16, 29: 27, 31: 27, 30: 28, 32: 28}
    for k in range(NUM_KEYPOINTS):
        if k not in _BODY:
            pts[k] = pts[near.get(k, NOSE)]
    return pts


def walking_track(near: tuple[float, float], far: tuple[float, float], size=(640, 480), feet=True, n=40) -> PoseTrack:
    """A person walking between a far position (ankle y, height) and a near one, over n frames."""
    a = (1 - np.cos(np.linspace(0, 2 * np.pi, n))) / 2  # 0 far .. 1 near .. 0 far
    pts = np.stack([body(far[1] + t * (near[1] - far[1]), size[0] / 2, far[0] + t * (near[0] - far[0])) for t in a])
    vis = np.ones((n, NUM_KEYPOINTS), np.float32)
    if not feet:
        vis[:, list(ANKLES)] = 0.1
    return PoseTrack(pts, vis, np.ones(n, bool), size, 25.0)


def test_normalisation_maps_far_and_near_heights_onto_the_target():
    src = walking_track(near=(400, 300), far=(250, 150))  # tall person, walks toward the camera
    tgt = walking_track(near=(460, 200), far=(300, 80))  # a smaller person on another floor
    norm = normalise_poses(src, ground_of(tgt), ground_of(tgt, feet=False), 480)
    assert norm.feet and "ankle" in norm.note
    heights = norm.points[:, 27:29, 1].mean(1) - norm.points[:, NOSE, 1]
    ankles = norm.points[:, 27:29].mean(1)
    far, near = int(np.argmin(src.points[:, 27, 1])), int(np.argmax(src.points[:, 27, 1]))
    # the ground summary uses robust percentiles (5th/95th position, 90th height nearby): within 10%
    assert heights[far] == pytest.approx(80, rel=0.1) and heights[near] == pytest.approx(200, rel=0.1)
    assert heights[near] / heights[far] == pytest.approx(200 / 80, rel=0.15)
    assert ankles[far, 1] == pytest.approx(300, abs=8) and ankles[near, 1] == pytest.approx(460, abs=8)
    assert ankles[:, 0] == pytest.approx(320, abs=1e-3)  # both centred: the horizontal position maps to centre


def test_normalisation_falls_back_to_hips_when_the_target_shows_no_feet():
    src = walking_track(near=(400, 300), far=(250, 150))
    tgt = walking_track(near=(460, 200), far=(300, 80), feet=False)
    g = ground_of(tgt)
    assert not g.feet
    norm = normalise_poses(src, g, ground_of(tgt, feet=False), 480)
    assert not norm.feet and "feet out of frame in the target" in norm.note
    hips_src = src.points[:, [LEFT_HIP, RIGHT_HIP]].mean(1)
    hips_out = norm.points[:, [LEFT_HIP, RIGHT_HIP]].mean(1)
    tgt_hips = tgt.points[:, [LEFT_HIP, RIGHT_HIP]].mean(1)
    # the source's nearest frame lands its hips at the target's nearest hip position
    near = int(np.argmax(hips_src[:, 1]))
    assert hips_out[near, 1] == pytest.approx(np.percentile(tgt_hips[:, 1], 95), abs=3)


def test_render_pose_draws_visible_limbs_in_their_colours():
    pts = body(100, 64, 120)
    vis = np.ones(NUM_KEYPOINTS, np.float32)
    img = render_pose(pts, vis, 128)
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    for a, b, color in LIMBS[:8]:
        mid = np.round((pts[a] + pts[b]) / 2).astype(int)
        assert img[mid[1], mid[0]].tolist() == list(color)
    vis[13] = 0  # left elbow unseen: neither of its limbs is drawn
    img2 = render_pose(pts, vis, 128)
    mid = np.round((pts[11] + pts[13]) / 2).astype(int)
    assert img2[mid[1], mid[0]].sum() == 0
    assert render_pose(pts, np.zeros(NUM_KEYPOINTS), (50, 30)).shape == (30, 50, 3)


def test_canvas_holds_the_body_and_pastes_back():
    pts = np.stack([body(200, 300, 400), body(180, 420, 380)])
    vis = np.ones((2, NUM_KEYPOINTS), np.float32)
    c = Canvas.around(pts, vis, (640, 480), 64)
    inside = c.to_canvas(pts.reshape(-1, 2))
    assert (inside >= 0).all() and (inside <= 64).all()
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    crop = c.crop(frame)
    assert crop.shape == (64, 64, 3)
    bg = np.zeros_like(frame)
    pasted = c.paste(bg, np.full((64, 64, 3), 200, np.uint8), np.ones((64, 64), np.float32))
    x0, y0 = int(np.ceil(c.x0)), int(np.ceil(c.y0))
    assert pasted[y0 + 5, x0 + 5].tolist() == [200, 200, 200]
    assert pasted[:max(0, y0 - 2)].sum() == 0  # nothing above the canvas
    half = c.paste(np.full_like(frame, 100), np.full((64, 64, 3), 200, np.uint8), np.full((64, 64), 0.5, np.float32))
    assert half[y0 + 5, x0 + 5].tolist() == [150, 150, 150]
    # paste is crop's inverse: a smooth frame cropped and pasted back lands where it came from (a half-canvas-pixel
    # slip, ~2 frame pixels here, puts it up to 6 grey levels off on these slopes)
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    smooth = (127.5 + 100 * np.dstack([np.sin(xx / 30), np.sin(yy / 30), np.sin((xx + yy) / 40)])).astype(np.uint8)
    back = c.paste(np.zeros_like(smooth), c.crop(smooth), np.ones((64, 64), np.float32))
    rx0, ry0, rx1, ry1 = c.region()
    inner = (slice(max(ry0, 0) + 12, min(ry1, 480) - 12), slice(max(rx0, 0) + 12, min(rx1, 640) - 12))
    assert np.abs(back[inner].astype(int) - smooth[inner].astype(int)).max() <= 2


def test_background_estimator_removes_a_moving_person_and_inpaints_what_is_never_seen():
    rng = np.random.default_rng(1)
    true_bg = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    est = BackgroundEstimator((80, 60), dilate=1)
    for i in range(8):
        frame = true_bg.copy()
        mask = np.zeros((60, 80), np.float32)
        x = 5 + i * 8
        frame[20:40, x:x + 10] = 255
        mask[20:40, x:x + 10] = 1
        frame[0:5, 0:5] = 0  # always covered by an (unmasked) object: not background, but the median keeps it
        mask[50:55, 70:75] = 1  # always covered: must be inpainted
        est.add(frame, mask)
    bg, holes = est.estimate()
    free = np.ones((60, 80), bool)
    free[48:57, 68:77] = False
    free[0:5, 0:5] = False
    assert np.abs(bg[free].astype(int) - true_bg[free]).max() <= 1
    assert holes == pytest.approx(25 / (60 * 80), abs=0.01)
    with pytest.raises(ValueError):
        est.add(np.zeros((10, 10, 3), np.uint8), None)


def test_generator_discriminator_and_face_refiner_shapes():
    torch.manual_seed(0)
    cfg = Pix2PixConfig(resolution=128, base=8, blocks=1, face_base=4)
    g = PoseGenerator(cfg)
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    rgb, logit = g(x, x, x)
    assert rgb.shape == (2, 3, 128, 128) and logit.shape == (2, 1, 128, 128)
    assert rgb.abs().max() <= 1
    d = MultiScaleDiscriminator(6, base=8, scales=2)
    feats = d(torch.cat([x, rgb], 1))
    assert len(feats) == 2 and feats[0][-1].shape[-1] == 16 and feats[1][-1].shape[-1] == 8
    assert float(feature_matching(feats, feats).detach()) == 0.0
    face = FaceRefiner(4)
    corners = face_boxes(torch.tensor([[5.0, 5.0], [100.0, 126.0]]), cfg.face_size, 128)
    assert corners.tolist() == [[0, 0], [84, 96]]  # kept inside the canvas
    crops = crop_faces(rgb, corners, cfg.face_size)
    assert crops.shape == (2, 3, 32, 32)
    refined = face(crops, crop_faces(x, corners, cfg.face_size))
    assert torch.allclose(refined, crops)  # a fresh refiner is the identity
    assert torch.allclose(paste_faces(rgb, refined, corners), rgb, atol=1e-6)
    with pytest.raises(InputError):
        Pix2PixConfig(base=2)


def test_pose_track_round_trip_and_hostile_files(tmp_path):
    tr = walking_track(near=(400, 300), far=(250, 150), n=5)
    tr.found[2] = False
    tr.save(tmp_path / "p.npz")
    back = PoseTrack.load(tmp_path / "p.npz")
    assert np.array_equal(back.points, tr.points) and back.found.tolist() == tr.found.tolist()
    assert back.size == (640, 480) and back.fps == 25.0
    good = (tmp_path / "p.npz").read_bytes()
    for name, data in (("bad.npz", b"not a numpy file"), ("empty.npz", b""), ("cut.npz", good[: len(good) // 2])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match="not a readable pose file"):
            PoseTrack.load(tmp_path / name)


def test_hold_missing_takes_the_nearest_earlier_pose():
    pts = np.arange(4 * NUM_KEYPOINTS * 2, dtype=np.float32).reshape(4, NUM_KEYPOINTS, 2)
    vis = np.ones((4, NUM_KEYPOINTS), np.float32)
    found = np.array([False, True, False, True])
    held, _ = hold_missing(pts, vis, found)
    assert np.array_equal(held[0], pts[1]) and np.array_equal(held[2], pts[1]) and np.array_equal(held[3], pts[3])
