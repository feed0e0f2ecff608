"""Low-label regime on real data: does GAN augmentation help the spectral-spatial CNN?

Jasper Ridge (real AVIRIS, 100×100×198; labels = the dominant ground-truth abundance:
tree, water, dirt, road). Spatially disjoint split (top half trains, bottom half tests;
training patches never reach the test half). For each of ``--repeats`` seeds: draw
``--per-class`` labelled pixels per class from the training half, train the CNN
(``hyperspectral.model``) without and with conditional WGAN-GP spectra
(``hyperspectral.gan``, trained on the same few labelled spectra only, ``--gan-per-class``
synthetic spectra per class), score both on the whole test half. Prints OA, AA, kappa
and the minority class's recall (road), mean ± std over the repeats.

    python benchmarks/hsi_low_label.py [--per-class 5] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hyperspectral" / "unmixing_jasper_ridge"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--gan-per-class", type=int, default=50)
    parser.add_argument("--gan-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DATA / "jasperRidge2_R198.mat")
    args = parser.parse_args()
    if not args.data.exists():
        sys.exit(f"{args.data}: not present (see ../shared/data/README.md)")
    import torch
    from scipy.io import loadmat

    from hyperspectral.cube import open_cube
    from hyperspectral.gan import augment_rare_classes
    from hyperspectral.model import TrainConfig, disjoint_halves, metrics, sample_per_class, train

    torch.set_num_threads(args.threads)
    cube = open_cube(args.data).read()
    abundances = loadmat(str(args.data))["A"].T.reshape(100, 100, 4, order="F")
    labels = abundances.argmax(axis=-1).astype(np.int64)
    flat = labels.ravel()
    names = ["tree", "water", "dirt", "road"]
    train_pool, test_idx = disjoint_halves(labels, patch=5)
    minority = int(np.argmin(np.bincount(flat)))
    print(
        f"Jasper Ridge, spatially disjoint halves: {len(train_pool)} train-pool px, "
        f"{len(test_idx)} test px; {args.per_class} labels per class, {args.repeats} repeats; "
        f"minority class: {names[minority]}"
    )
    rows: dict[str, list[list[float]]] = {"baseline": [], "gan": []}
    for seed in range(args.repeats):
        chosen = sample_per_class(flat, train_pool, args.per_class, seed)
        config = TrainConfig(epochs=args.epochs, seed=seed, batch=16)
        for arm in ("baseline", "gan"):
            started = time.perf_counter()
            extra = None
            if arm == "gan":
                extra = augment_rare_classes(
                    cube.reshape(-1, cube.shape[-1])[chosen],
                    flat[chosen],
                    4,
                    args.gan_per_class,
                    seed,
                    steps=args.gan_steps,
                )
            model = train(cube, flat, chosen, 4, config, extra)
            predicted = model.predict_proba(cube, test_idx).argmax(axis=1)
            m = metrics(flat[test_idx], predicted, 4)
            rows[arm].append([m["oa"], m["aa"], m["kappa"], m["recall"][minority]])
            print(
                f"  seed {seed} {arm:<8} OA {m['oa']:.3f} AA {m['aa']:.3f} "
                f"kappa {m['kappa']:.3f} {names[minority]} recall {m['recall'][minority]:.3f} "
                f"({time.perf_counter() - started:.1f} s)"
            )
    for arm, values in rows.items():
        a = np.array(values)
        mean, std = a.mean(axis=0), a.std(axis=0)
        print(
            f"{arm:<8} OA {mean[0]:.3f}±{std[0]:.3f}  AA {mean[1]:.3f}±{std[1]:.3f}  "
            f"kappa {mean[2]:.3f}±{std[2]:.3f}  {names[minority]} recall "
            f"{mean[3]:.3f}±{std[3]:.3f}"
        )
    base, gan = np.array(rows["baseline"]).mean(axis=0), np.array(rows["gan"]).mean(axis=0)
    verdict = "helps" if gan[0] > base[0] and gan[3] >= base[3] else "does not help"
    print(
        f"GAN augmentation {verdict} here (OA {gan[0] - base[0]:+.3f}, "
        f"minority recall {gan[3] - base[3]:+.3f})"
    )


if __name__ == "__main__":
    main()
