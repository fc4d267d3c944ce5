"""A small PatchGAN discriminator: real or generated, judged on overlapping patches.

Used as an optional adversarial term when training the swap autoencoder: pixel losses (L1, SSIM) reward the
average of the plausible textures, which is smooth; a discriminator rewards texture that looks real.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchDiscriminator(nn.Module):
    """B x 3 x R x R images in [-1, 1] -> B x 1 x R/8 x R/8 realness logits (each sees a ~30 px patch).

    Args:
        base: channels of the first layer (doubled per stride-2 layer).
        layers: stride-2 layers.
    """

    def __init__(self, base: int = 32, layers: int = 3) -> None:
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: push real above +1 and fake below -1."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss: raise the discriminator's score of generated images."""
    return -fake_logits.mean()
