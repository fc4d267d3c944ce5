"""The face-swap autoencoder: one shared encoder, one decoder per identity ("deepfakes"), with a mask output.

Conversion encodes person A's face and decodes it with person B's decoder: the shared latent code carries pose,
expression and lighting; each decoder paints its own person's appearance.

Encoder: a 5x5 stride-2 stem, stride-2 3x3 convolutions down to 8 x 8, then a dense bottleneck (flatten ->
latent -> 8 x 8 x C) that forces a global code. Decoder: pixel-shuffle upsampling with a residual block after each
step; a sub-pixel head gives RGB (tanh) and a mask logit at full resolution. Optionally each decoder also takes a
10-number expression code (see :mod:`synthvid.face.expression`) that shifts its input code.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from synthvid.config import Config, option
from synthvid.errors import InputError
from synthvid.face.expression import FEATURES as EXPRESSION_FEATURES

ARCH = "swap-autoencoder"
BOTTLENECK = 8  # spatial size of the code before and after the dense layers
# Channel widths: base for the first (highest resolution) encoder level, doubling per level up to cap.
PRESETS = {
    "cpu": {"base": 32, "cap": 256, "latent": 512},  # default: trains on a laptop CPU
    "gpu": {"base": 64, "cap": 512, "latent": 1024},  # wider, for GPUs
    "tiny": {"base": 8, "cap": 32, "latent": 32},  # smoke tests only: learns almost nothing
}


@dataclasses.dataclass(frozen=True)
class AutoencoderConfig(Config):
    """Shape of the swap model (all of it is saved in the checkpoint and must match on resume)."""

    resolution: int = option(128, "face crop side in pixels", choices=(64, 128, 256))
    preset: str = option("cpu", "model size: cpu (trains on a laptop), gpu (wider, for GPUs) or tiny (smoke tests)",
                         choices=tuple(PRESETS))
    identities: int = option(2, "number of identities (one decoder each)", cli=False)
    expression: bool = option(True, "guide each decoder with an identity-normalised expression code from landmarks "
                                    "(mouth, eyes, brows), so B's face follows A's expression")

    def channels(self) -> tuple[list[int], list[int], int]:
        """(encoder widths per level, decoder widths per level, latent size)."""
        p = PRESETS[self.preset]
        levels = int(round(math.log2(self.resolution // BOTTLENECK)))
        enc = [min(p["base"] * 2 ** i, p["cap"]) for i in range(levels)]
        return enc, enc[::-1], p["latent"]


def _act() -> nn.Module:
    return nn.LeakyReLU(0.1, inplace=True)


class _Residual(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2)


class _Upscale(nn.Sequential):
    """Conv to 4x channels, then pixel shuffle: x2 resolution without checkerboard artefacts of transposed convs."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Conv2d(cin, cout * 4, 3, padding=1), _act(), nn.PixelShuffle(2))


class Encoder(nn.Module):
    """B x 3 x R x R in [-1, 1] -> B x C x 8 x 8 code (after the dense bottleneck)."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        enc, dec, latent = cfg.channels()
        layers: list[nn.Module] = [nn.Conv2d(3, enc[0], 5, stride=2, padding=2), _act()]
        for cin, cout in zip(enc[:-1], enc[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), _act()]
        self.features = nn.Sequential(*layers)
        self.to_latent = nn.Linear(enc[-1] * BOTTLENECK ** 2, latent)
        self.from_latent = nn.Linear(latent, dec[0] * BOTTLENECK ** 2)
        self.code_channels = dec[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x).flatten(1)  # B x (C*8*8)
        # The dense layers stay in fp32 even under autocast: casting their ~17 M weights to bf16 on every pass
        # costs more on a CPU than the matrix products themselves.
        with torch.autocast(x.device.type, enabled=False):
            z = self.from_latent(self.to_latent(h.float()))
        return F.leaky_relu(z, 0.1).view(x.shape[0], self.code_channels, BOTTLENECK, BOTTLENECK)


class Decoder(nn.Module):
    """B x C x 8 x 8 code -> (B x 3 x R x R RGB in [-1, 1], B x 1 x R x R mask logit).

    Upscale + residual block per level up to R/2, then a sub-pixel head (conv to 4 x 4 channels + pixel
    shuffle) paints the full-resolution RGB and mask: a quarter of the cost of a last full-resolution stage.
    """

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        _, dec, _ = cfg.channels()
        layers: list[nn.Module] = []
        for cin, cout in zip(dec[:-1], dec[1:]):
            layers += [_Upscale(cin, cout), _Residual(cout)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Conv2d(dec[-1], 4 * 4, 3, padding=1), nn.PixelShuffle(2))
        # Expression guide: a per-person linear map from the expression code to a spatial offset of the code.
        self.expression = nn.Linear(len(EXPRESSION_FEATURES), dec[0] * BOTTLENECK ** 2) if cfg.expression else None

    def forward(self, code: torch.Tensor, expression: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.expression is not None and expression is not None:
            code = code + self.expression(expression.to(code.dtype)).view_as(code)  # B x C x 8 x 8
        out = self.head(self.body(code))
        return torch.tanh(out[:, :3]), out[:, 3:4]


class SwapAutoencoder(nn.Module):
    """Shared encoder + one decoder per identity."""

    def __init__(self, cfg: AutoencoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoders = nn.ModuleList([Decoder(cfg) for _ in range(cfg.identities)])

    def encode(self, faces: torch.Tensor) -> torch.Tensor:
        """B x 3 x R x R faces in [-1, 1] -> B x C x 8 x 8 code."""
        r = self.cfg.resolution
        if faces.ndim != 4 or faces.shape[1:] != (3, r, r):
            raise InputError(f"model expects B x 3 x {r} x {r} faces, got {tuple(faces.shape)}")
        return self.encoder(faces)

    def decode(self, code: torch.Tensor, identity: int,
               expression: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Code (and B x 10 standardised expression, if the model uses it) -> (RGB B x 3 x R x R in [-1, 1],
        mask logit B x 1 x R x R) as ``identity``."""
        if not 0 <= identity < len(self.decoders):
            raise InputError(f"identity must be in 0..{len(self.decoders) - 1}, got {identity}")
        return self.decoders[identity](code, expression)

    def forward(self, faces: torch.Tensor, identity: int,
                expression: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``faces`` and decode them as ``identity``: (RGB, mask logit)."""
        return self.decode(self.encode(faces), identity, expression)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 where it is fast (CUDA; CPUs with AVX-512 BF16 or AMX), None for fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision != "auto":
        raise InputError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    try:
        return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None
    except (AttributeError, RuntimeError):
        return None
