"""Pose-to-image networks for motion transfer (pix2pix / pix2pixHD as used by "Everybody Dance Now").

- :class:`PoseGenerator`: an encoder-decoder with skip connections and residual blocks. Input: the current and the
  previous pose images and the previous generated frame (zeros for the first frame), so each frame is generated
  knowing the last one (temporal coherence). Output: RGB in [-1, 1] plus a person-matte logit; the frame is the
  person composited over the target's background with that matte.
- :class:`MultiScaleDiscriminator`: PatchGAN discriminators at full and half resolution returning their
  intermediate features (for the feature-matching loss). Used conditioned on the pose (spatial) and on two
  consecutive poses and frames (temporal).
- :class:`FaceRefiner`: a small residual network that sharpens the face region of a generated frame, given the
  generated face crop and the pose crop (the paper's separate face GAN stage).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from synthvid.config import Config, option
from synthvid.errors import InputError

ARCH = "pix2pix-dance-1"
POSE_CHANNELS = 3


@dataclasses.dataclass(frozen=True)
class Pix2PixConfig(Config):
    """Shape of the motion-transfer networks (fixed for a model's life)."""

    resolution: int = option(128, "canvas size in pixels (128, 256 or 512)", choices=(128, 256, 512))
    base: int = option(32, "generator channels at full resolution (doubled per level, capped at 4x)")
    blocks: int = option(3, "residual blocks at the generator's coarsest level")
    face_base: int = option(16, "face refiner channels")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.base < 8 or self.blocks < 0 or self.face_base < 4:
            raise InputError("base must be >= 8, blocks >= 0, face_base >= 4")

    @property
    def levels(self) -> int:
        """Stride-2 levels: the coarsest feature map is 16 x 16 at 128, 32 x 32 at 256 and 512 (one more level)."""
        return {128: 3, 256: 3, 512: 4}[self.resolution]

    @property
    def face_size(self) -> int:
        """Side of the face crop the refiner works on (a quarter of the canvas, as in the paper at 512)."""
        return self.resolution // 4


def _norm(ch: int) -> nn.Module:
    return nn.InstanceNorm2d(ch, affine=True)


class _Res(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), _norm(ch), nn.ReLU(True),
                                  nn.Conv2d(ch, ch, 3, padding=1), _norm(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Up(nn.Module):
    """Nearest upsampling + conv (no transposed-conv checkerboards), then merge the skip connection."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), _norm(cout), nn.ReLU(True))
        self.merge = nn.Sequential(nn.Conv2d(cout + cskip, cout, 3, padding=1), _norm(cout), nn.ReLU(True))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
        return self.merge(torch.cat([x, skip], 1))


class UNet(nn.Module):
    """Encoder-decoder with skip connections and residual blocks at the coarsest level; subclasses call
    :meth:`build` and add their own output head on :meth:`features` (full resolution, ``base`` channels)."""

    def build(self, cin: int, base: int, levels: int, blocks: int, stem_kernel: int) -> None:
        c = base
        chans = [min(c * 2 ** i, c * 4) for i in range(levels + 1)]  # capped: CPU time
        self.stem = nn.Sequential(nn.Conv2d(cin, c, stem_kernel, padding=stem_kernel // 2), _norm(c), nn.ReLU(True))
        self.down = nn.ModuleList(nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 4, stride=2, padding=1),
                                                _norm(chans[i + 1]), nn.ReLU(True)) for i in range(levels))
        self.res = nn.Sequential(*(_Res(chans[-1]) for _ in range(blocks)))
        self.up = nn.ModuleList(_Up(chans[i + 1], chans[i], chans[i]) for i in reversed(range(levels)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skips = [x]
        for d in self.down:
            x = d(x)
            skips.append(x)
        x = self.res(x)
        for up, skip in zip(self.up, reversed(skips[:-1])):
            x = up(x, skip)
        return x


class PoseGenerator(UNet):
    """(pose_t, pose_t-1, frame_t-1): B x 9 x R x R in [-1, 1] -> (rgb B x 3 x R x R in [-1, 1], matte logits
    B x 1 x R x R)."""

    def __init__(self, cfg: Pix2PixConfig) -> None:
        super().__init__()
        self.build(2 * POSE_CHANNELS + 3, cfg.base, cfg.levels, cfg.blocks, stem_kernel=7)
        self.head = nn.Conv2d(cfg.base, 4, 7, padding=3)

    def forward(self, pose: torch.Tensor, prev_pose: torch.Tensor, prev_frame: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.features(torch.cat([pose, prev_pose, prev_frame], 1)))
        return torch.tanh(out[:, :3]), out[:, 3:]


class _Patch(nn.Module):
    """One PatchGAN returning every layer's features (the last is the realness logits)."""

    def __init__(self, cin: int, base: int, layers: int) -> None:
        super().__init__()
        blocks = []
        c = cin
        for i in range(layers):
            cout = min(base * 2 ** i, base * 8)
            blocks.append(nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(c, cout, 4, stride=2, padding=1)),
                                        nn.LeakyReLU(0.2, True)))
            c = cout
        blocks.append(nn.Sequential(nn.utils.spectral_norm(nn.Conv2d(c, c, 3, padding=1)), nn.LeakyReLU(0.2, True)))
        blocks.append(nn.Conv2d(c, 1, 3, padding=1))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return feats


class MultiScaleDiscriminator(nn.Module):
    """``scales`` PatchGANs on the input at full, 1/2, 1/4 ... resolution: a list (per scale) of feature lists."""

    def __init__(self, in_channels: int, base: int = 32, layers: int = 3, scales: int = 2) -> None:
        super().__init__()
        self.nets = nn.ModuleList(_Patch(in_channels, base, layers) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        outs = []
        for i, net in enumerate(self.nets):
            if i:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(net(x))
        return outs


def hinge_d(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """Hinge loss of the discriminator over scales (real above +1, fake below -1)."""
    return sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real, fake)) / len(real)


def hinge_g(fake: list[list[torch.Tensor]]) -> torch.Tensor:
    return sum(-f[-1].mean() for f in fake) / len(fake)


def feature_matching(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminator's features of real and generated images (pix2pixHD), over layers and scales."""
    total = torch.zeros((), device=fake[0][0].device)
    n = 0
    for r, f in zip(real, fake):
        for rf, ff in zip(r[:-1], f[:-1]):
            total = total + F.l1_loss(ff, rf.detach())
            n += 1
    return total / max(n, 1)


class FaceRefiner(nn.Module):
    """(generated face crop, pose crop): B x 6 x F x F -> a residual B x 3 x F x F added to the face crop."""

    def __init__(self, base: int = 16) -> None:
        super().__init__()
        c = base
        self.enc1 = nn.Sequential(nn.Conv2d(3 + POSE_CHANNELS, c, 3, padding=1), nn.ReLU(True))
        self.enc2 = nn.Sequential(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), _norm(2 * c), nn.ReLU(True),
                                  _Res(2 * c), _Res(2 * c))
        self.dec = _Up(2 * c, c, c)
        self.head = nn.Conv2d(c, 3, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # starts as the identity: the refiner can only add what it learns
        nn.init.zeros_(self.head.bias)

    def forward(self, face: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        x1 = self.enc1(torch.cat([face, pose], 1))
        x = self.dec(self.enc2(x1), x1)
        return (face + self.head(x)).clamp(-1, 1)


def face_window(size: int, device: torch.device | None = None) -> torch.Tensor:
    """1 x 1 x F x F blending weights for pasting a refined face: 1 in the middle, falling to 0 at the edges."""
    t = torch.linspace(-1, 1, size, device=device)
    w = (1 - t.abs()).clamp(0, 0.25) / 0.25
    return (w[:, None] * w[None, :])[None, None]


def face_boxes(centers: torch.Tensor, size: int, resolution: int) -> torch.Tensor:
    """B x 2 face centres (canvas pixels) -> B x 2 integer top-left corners of F x F boxes kept inside the canvas."""
    tl = (centers - size / 2).round().long()
    return tl.clamp(0, resolution - size)


def crop_faces(images: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
    """B x C x R x R, B x 2 (x, y) corners -> B x C x F x F."""
    return torch.stack([img[:, y:y + size, x:x + size] for img, (x, y) in zip(images, corners.tolist())])


def paste_faces(images: torch.Tensor, faces: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
    """Blend refined B x 3 x F x F faces back into B x 3 x R x R images with :func:`face_window` weights."""
    size = faces.shape[-1]
    w = face_window(size, images.device)
    rows = []
    for img, face, (x, y) in zip(images, faces, corners.tolist()):
        pad = (x, img.shape[-1] - x - size, y, img.shape[-2] - y - size)
        wf = F.pad(w[0], pad)
        rows.append(img * (1 - wf) + F.pad(face * w[0], pad))
    return torch.stack(rows)
