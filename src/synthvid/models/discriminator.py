"""A small PatchGAN discriminator: real or generated, judged on overlapping patches.

Used as an optional adversarial term when training the swap autoencoder: pixel losses (L1, SSIM) reward the
average of the plausible textures, which is smooth; a discriminator rewards texture that looks real.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Blur(nn.Module):
    """A fixed [1 2 1] x [1 2 1] / 16 low-pass per channel (reflect padding), put before a strided convolution.

    A stride-2 convolution aliases: a 2-px pattern reaches it as a coarser one, and its gradient with respect to its
    input has the stride's checkerboard structure. In an adversarial term, that gradient teaches the generator dot
    patterns (seen in the face-swap experiment). Blurring first (Zhang 2019, "Making convolutional networks
    shift-invariant again") removes both. A non-persistent buffer: checkpoints keep the same layout."""

    def __init__(self) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel.to(x.dtype).expand(c, 1, 3, 3), groups=c)


class PatchDiscriminator(nn.Module):
    """B x 3 x R x R images in [-1, 1] -> B x 1 x R/8 x R/8 realness logits (each sees a ~30 px patch).

    Args:
        base: channels of the first layer (doubled per stride-2 layer).
        layers: stride-2 layers.
        antialias: blur before each stride-2 layer (see :class:`Blur`).
    """

    def __init__(self, base: int = 32, layers: int = 3, antialias: bool = True) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        cin = 3
        for i in range(layers):
            cout = base * 2 ** i
            # Spectral norm keeps the discriminator Lipschitz: steadier training with few steps and small batches.
            blocks += [nn.utils.spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
            cin = cout
        blocks += [nn.utils.spectral_norm(nn.Conv2d(cin, cin, 3, padding=1)), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(cin, 1, 3, padding=1)]
        self.net = nn.Sequential(*blocks)
        self.blur = Blur() if antialias else None  # applied in forward: the layers keep their checkpoint names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            if self.blur is not None and isinstance(layer, nn.Conv2d) and layer.stride[0] > 1:
                x = self.blur(x)
            x = layer(x)
        return x


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: push real above +1 and fake below -1."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: raise the discriminator's score of generated images."""
    return -fake_logits.mean()
