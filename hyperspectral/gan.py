"""Conditional WGAN-GP on spectra, to generate labelled spectra for rare classes.

Generator: MLP (noise ⊕ one-hot class) → spectrum (standardised units); critic: MLP
(spectrum ⊕ one-hot) → score; Wasserstein loss with gradient penalty (Gulrajani et al.
2017), 5 critic steps per generator step. Trained on the labelled training spectra
only, so it cannot leak test data. Whether it helps is measured, not assumed
(benchmarks/hsi.py, low-label experiment); torch is imported inside functions only.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32Array = npt.NDArray[np.float32]
I64Array = npt.NDArray[np.int64]


def train_cwgan_gp(
    spectra: F32Array,
    labels: I64Array,
    n_classes: int,
    steps: int = 300,
    seed: int = 0,
    noise_dim: int = 16,
    hidden: int = 128,
    gp_weight: float = 10.0,
) -> tuple[object, F32Array, F32Array]:
    """(generator, mean, std) trained on (n, bands) spectra with labels 0..C−1."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    mean = spectra.mean(axis=0).astype(np.float32)
    std = (spectra.std(axis=0) + 1e-6).astype(np.float32)
    x = torch.from_numpy(((spectra - mean) / std).astype(np.float32))
    y = torch.nn.functional.one_hot(torch.from_numpy(labels.astype(np.int64)), n_classes).float()
    bands = spectra.shape[1]
    gen = nn.Sequential(
        nn.Linear(noise_dim + n_classes, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, bands),
    )
    critic = nn.Sequential(
        nn.Linear(bands + n_classes, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, 1),
    )
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    n = len(x)
    batch = min(64, n)
    for step in range(steps * 5):
        idx = torch.randint(0, n, (batch,))
        real, cond = x[idx], y[idx]
        fake = gen(torch.cat([torch.randn(batch, noise_dim), cond], 1))
        if step % 5 < 4:
            eps = torch.rand(batch, 1)
            mid = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
            score = critic(torch.cat([mid, cond], 1))
            grad = torch.autograd.grad(score.sum(), mid, create_graph=True)[0]
            penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
            loss_c = (
                critic(torch.cat([fake.detach(), cond], 1)).mean()
                - critic(torch.cat([real, cond], 1)).mean()
                + gp_weight * penalty
            )
            opt_c.zero_grad()
            loss_c.backward()
            opt_c.step()
        else:
            loss_g = -critic(torch.cat([fake, cond], 1)).mean()
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
    return gen, mean, std


def generate(
    generator: object,
    mean: F32Array,
    std: F32Array,
    label: int,
    count: int,
    n_classes: int,
    seed: int = 0,
    noise_dim: int = 16,
) -> F32Array:
    """``count`` spectra of class ``label`` in the original units."""
    import torch

    torch.manual_seed(seed + 1000 * label)
    cond = torch.nn.functional.one_hot(torch.full((count,), label), n_classes).float()
    with torch.no_grad():
        out = generator(torch.cat([torch.randn(count, noise_dim), cond], 1)).numpy()  # type: ignore[operator]
    return np.asarray(out * std + mean, dtype=np.float32)


def augment_rare_classes(
    spectra: F32Array,
    labels: I64Array,
    n_classes: int,
    per_class: int,
    seed: int = 0,
    steps: int = 300,
) -> tuple[F32Array, I64Array]:
    """Synthetic (spectra, labels): classes with fewer samples than the largest get
    ``per_class`` (if all are equal — the low-label regime — every class does)."""
    counts = np.bincount(labels, minlength=n_classes)
    present = np.flatnonzero(counts)
    rare = [int(c) for c in present if counts[c] < counts.max()] or [int(c) for c in present]
    gen, mean, std = train_cwgan_gp(spectra, labels, n_classes, steps=steps, seed=seed)
    out = [generate(gen, mean, std, c, per_class, n_classes, seed) for c in rare]
    return np.concatenate(out), np.repeat(np.array(rare, np.int64), per_class)
