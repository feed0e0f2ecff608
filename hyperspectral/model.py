"""A trained spectral-spatial classifier (small 2-D CNN on patches) and its evaluation.

Network: a 1×1 convolution mixes the bands into ``width`` spectral features (the
spectral part), two 3×3 convolutions look at the neighbourhood (the spatial part),
global average pooling and a linear layer give class scores; inputs are per-band
standardised patches of ``patch``×``patch`` pixels around the pixel classified. Small on
purpose: it trains in seconds on CPU and does not over-fit a few hundred labels.

Evaluation uses **spatially disjoint** splits (:func:`disjoint_halves`): the image is cut
into a training half and a test half, and training patches may not reach into the test
half, because random pixel splits put a test pixel's neighbours (and patch) in the
training set and inflate accuracy.

Weights are saved with ``torch.save`` as a plain dict of tensors and metadata and loaded
with ``torch.load(weights_only=True)``. torch is imported inside functions only.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperspectral.contamination import ContaminationMap
from hyperspectral.errors import HyperspectralError
from hyperspectral.labels import read_labels as read_labels
from smartmine.atomic import atomic_set, clean_debris
from smartmine.paths import check_output_path

F32Array = npt.NDArray[np.float32]
I64Array = npt.NDArray[np.int64]


@dataclass
class TrainConfig:
    patch: int = 5
    width: int = 32
    epochs: int = 30
    batch: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    gan_augment: bool = False
    gan_per_class: int = 50
    """Synthetic spectra added per rare class (classes with fewer labels than the largest)."""
    classes: list[str] = field(default_factory=list)


def metrics(truth: I64Array, predicted: I64Array, n_classes: int) -> dict[str, Any]:
    """Overall accuracy, average (per-class) accuracy, Cohen's kappa, confusion, recall."""
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    total = confusion.sum()
    oa = float(np.trace(confusion) / total) if total else 0.0
    rows = confusion.sum(axis=1)
    recall = np.where(rows > 0, np.diag(confusion) / np.maximum(rows, 1), np.nan)
    aa = float(np.nanmean(recall))
    expected = float((rows * confusion.sum(axis=0)).sum() / total**2) if total else 0.0
    kappa = (oa - expected) / (1 - expected) if expected < 1 else 0.0
    return {
        "oa": oa,
        "aa": aa,
        "kappa": kappa,
        "recall": recall.tolist(),
        "confusion": confusion.tolist(),
    }


def disjoint_halves(labels: I64Array, patch: int, axis: int = 0) -> tuple[I64Array, I64Array]:
    """(train, test) flat indices of labelled pixels (label ≥ 0): first half along
    ``axis`` for training, shrunk by the patch radius so no training patch reaches the
    test half; second half for testing."""
    h, w = labels.shape
    r = patch // 2
    rows, cols = np.indices((h, w))
    coord = cols if axis == 1 else rows
    half = (w if axis == 1 else h) // 2
    labelled = labels >= 0
    train = labelled & (coord < half - r)
    test = labelled & (coord >= half)
    return np.flatnonzero(train.ravel()), np.flatnonzero(test.ravel())


def validation_strip(
    pool: I64Array, width: int, patch: int, fraction: float = 0.25
) -> tuple[I64Array, I64Array]:
    """(fit, validation) split of training indices by image row: the last ``fraction`` of
    the pool's rows validate, and fit rows stop a patch radius short of them. Model choices
    (such as keeping the GAN) are made on it, never on the test half."""
    rows = pool // width
    cut = int(np.quantile(rows, 1.0 - fraction)) if len(pool) else 0
    return pool[rows < cut - patch // 2], pool[rows >= cut]


def sample_per_class(labels_flat: I64Array, pool: I64Array, per_class: int, seed: int) -> I64Array:
    """``per_class`` random indices of each class from ``pool`` (all if fewer)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels_flat[pool]):
        members = pool[labels_flat[pool] == c]
        chosen.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.concatenate(chosen))


def _network(bands: int, n_classes: int, width: int) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(bands, width, 1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(width, n_classes),
    )


def patches(cube: F32Array, indices: I64Array, patch: int) -> F32Array:
    """(n, bands, patch, patch) patches centred on flat ``indices`` (edges reflected)."""
    w = cube.shape[1]
    r = patch // 2
    padded = np.pad(cube, ((r, r), (r, r), (0, 0)), mode="reflect")
    rows, cols = np.divmod(indices, w)
    offsets = np.arange(-r, r + 1)
    rr = rows[:, None, None] + r + offsets[None, :, None]
    cc = cols[:, None, None] + r + offsets[None, None, :]
    out = padded[rr, cc]  # (n, p, p, bands)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2), dtype=np.float32)


@dataclass
class TrainedModel:
    net: Any
    mean: F32Array
    std: F32Array
    config: TrainConfig
    classes: list[str]
    wavelengths_nm: list[float] | None = None

    def predict_proba(
        self, cube: F32Array, indices: I64Array | None = None, batch: int = 2048
    ) -> F32Array:
        """(n, C) class probabilities of pixels ``indices`` (default all) of a cube."""
        import torch

        h, w, _ = cube.shape
        norm = ((cube - self.mean) / self.std).astype(np.float32)
        idx = np.arange(h * w) if indices is None else indices
        out = []
        self.net.eval()
        with torch.no_grad():
            for s in range(0, len(idx), batch):
                x = torch.from_numpy(patches(norm, idx[s : s + batch], self.config.patch))
                out.append(torch.softmax(self.net(x), dim=1).numpy())
        return np.asarray(np.concatenate(out), dtype=np.float32)

    def save(self, path: Path) -> Path:
        import io

        import torch

        from smartmine.atomic import write_bytes_atomic

        state = {
            "state_dict": self.net.state_dict(),
            "mean": torch.from_numpy(self.mean),
            "std": torch.from_numpy(self.std),
            "config": json.dumps(asdict(self.config)),
            "classes": json.dumps(self.classes),
            "wavelengths_nm": json.dumps(self.wavelengths_nm),
        }
        buf = io.BytesIO()
        torch.save(state, buf)
        write_bytes_atomic(path, buf.getvalue())
        return path


def load_model(path: Path) -> TrainedModel:
    """A model saved by :meth:`TrainedModel.save` (``weights_only=True``: no pickled code)."""
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        config = TrainConfig(**json.loads(state["config"]))
        classes = json.loads(state["classes"])
        mean = state["mean"].numpy()
        net = _network(len(mean), len(classes), config.width)
        net.load_state_dict(state["state_dict"])
    except FileNotFoundError:
        raise HyperspectralError(f"{path}: no such model file") from None
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise HyperspectralError(
            f"{path}: not a smartmine hsi model ({type(err).__name__}: {first})"
        ) from None
    return TrainedModel(
        net, mean, state["std"].numpy(), config, classes, json.loads(state["wavelengths_nm"])
    )


def train(
    cube: F32Array,
    labels_flat: I64Array,
    train_idx: I64Array,
    n_classes: int,
    config: TrainConfig,
    extra_spectra: tuple[F32Array, I64Array] | None = None,
) -> TrainedModel:
    """Train on pixels ``train_idx`` (labels 0..C-1); ``extra_spectra`` (n, bands) and their
    labels are added as homogeneous patches (GAN augmentation)."""
    import torch
    from torch import nn

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    flat = cube.reshape(-1, cube.shape[-1])
    mean = flat.mean(axis=0).astype(np.float32)
    std = (flat.std(axis=0) + 1e-6).astype(np.float32)
    norm = ((cube - mean) / std).astype(np.float32)
    x = patches(norm, train_idx, config.patch)
    y = labels_flat[train_idx]
    if extra_spectra is not None and len(extra_spectra[0]):
        spectra = ((extra_spectra[0] - mean) / std).astype(np.float32)
        homogeneous = np.repeat(
            np.repeat(spectra[:, :, None, None], config.patch, 2), config.patch, 3
        )
        x = np.concatenate([x, homogeneous])
        y = np.concatenate([y, extra_spectra[1]])
    net = _network(cube.shape[-1], n_classes, config.width)
    opt = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    weights = torch.from_numpy(
        np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0)
    )
    loss_fn = nn.CrossEntropyLoss(weight=weights.float())
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    steps_per_epoch = max(1, int(np.ceil(len(x) / config.batch)))
    for _ in range(config.epochs):
        net.train()
        order = rng.permutation(len(x))
        for s in range(steps_per_epoch):
            b = order[s * config.batch : (s + 1) * config.batch]
            if len(b) < 2:
                continue
            xb = xt[b]
            if rng.random() < 0.5:
                xb = torch.flip(xb, dims=[3])
            opt.zero_grad()
            loss = loss_fn(net(xb), yt[b])
            loss.backward()
            opt.step()
    return TrainedModel(net, mean, std, config, [str(i) for i in range(n_classes)])


def check_train_args(args: argparse.Namespace) -> None:
    """The options of ``hsi train`` in range, and ``--out`` a place a file can go."""
    if args.patch % 2 == 0 or not 1 <= args.patch <= 31:
        raise HyperspectralError(f"--patch {args.patch}: want an odd size 1..31")
    if not 1 <= args.epochs <= 10_000:
        raise HyperspectralError(f"--epochs {args.epochs}: want 1..10000")
    if args.per_class < 0:
        raise HyperspectralError(f"--per-class {args.per_class}: want 0 (all) or more")
    check_output_path(args.out, "--out", folder=False)
    if Path(args.out).suffix.lower() in (".json", ".png"):
        raise HyperspectralError(
            f"--out {args.out}: the model's own name (its report is .json, its plot .png)"
        )
    clean_debris(Path(args.out).parent)  # (a set a killed run left mixed goes now)


def model_set(out: Path) -> list[Path]:
    """What ``hsi train --out OUT`` writes, in the order it lands: report, confusion
    plot, and the model last (the file a reader opens)."""
    return [out.with_suffix(".json"), out.with_suffix(".confusion.png"), out]


def train_command(args: argparse.Namespace) -> Path:
    """``smartmine hsi train``: spatially disjoint split, train, score, save model + report."""
    from hyperspectral.cube import open_cube

    started = time.perf_counter()
    check_train_args(args)
    cube = open_cube(args.cube)
    labels, names = read_labels(args.labels, cube.shape[:2])
    if len(names) < 2:
        raise HyperspectralError(
            f"{args.labels}: {len(names)} labelled class(es); training needs 2 or more"
        )
    data = cube.read()
    if not np.isfinite(data).all():
        raise HyperspectralError(
            f"{cube.source}: holds NaN or infinite values; the model trains on clean cubes"
        )
    config = TrainConfig(
        patch=args.patch,
        epochs=args.epochs,
        seed=args.seed,
        gan_augment=args.gan_augment,
        classes=names,
    )
    flat = labels.ravel()
    train_idx, test_idx = disjoint_halves(labels, config.patch)
    val_idx = np.empty(0, np.int64)
    if config.gan_augment:  # the GAN is kept or dropped on validation pixels, not the test
        train_idx, val_idx = validation_strip(train_idx, labels.shape[1], config.patch)
    if args.per_class:
        train_idx = sample_per_class(flat, train_idx, args.per_class, args.seed)
    if len(train_idx) == 0 or len(test_idx) == 0 or (config.gan_augment and len(val_idx) == 0):
        raise HyperspectralError(f"{args.labels}: no labelled pixels in one half of the image")
    extra = None
    if config.gan_augment:
        from hyperspectral.gan import augment_rare_classes

        extra = augment_rare_classes(
            data.reshape(-1, data.shape[-1])[train_idx],
            flat[train_idx],
            len(names),
            config.gan_per_class,
            config.seed,
        )
    model = train(data, flat, train_idx, len(names), config, extra)
    predicted = model.predict_proba(data, test_idx).argmax(axis=1)
    scores = metrics(flat[test_idx], predicted, len(names))
    gan_effect: dict[str, Any] | None = None
    if config.gan_augment:  # keep the GAN only if it helps: train without it too
        plain_config = TrainConfig(**{**asdict(config), "gan_augment": False})
        plain = train(data, flat, train_idx, len(names), plain_config)
        plain_scores = metrics(
            flat[test_idx], plain.predict_proba(data, test_idx).argmax(axis=1), len(names)
        )
        val_truth = flat[val_idx]
        val_gan = metrics(val_truth, model.predict_proba(data, val_idx).argmax(axis=1), len(names))
        val_plain = metrics(
            val_truth, plain.predict_proba(data, val_idx).argmax(axis=1), len(names)
        )
        helps = val_gan["oa"] > val_plain["oa"]
        gan_effect = {
            "with_gan": {k: scores[k] for k in ("oa", "aa", "kappa", "recall")},
            "without_gan": {k: plain_scores[k] for k in ("oa", "aa", "kappa", "recall")},
            "validation_oa": {"with_gan": val_gan["oa"], "without_gan": val_plain["oa"]},
            "kept": "with_gan" if helps else "without_gan",
            "decided_on": f"validation strip of the training half ({len(val_idx)} px); "
            "test scores of both are reported, the test half chose nothing",
        }
        if not helps:
            model, scores, config = plain, plain_scores, plain_config
    model.classes = names
    model.wavelengths_nm = None if cube.wavelengths_nm is None else cube.wavelengths_nm.tolist()
    out = Path(args.out)
    report = {
        "split": "spatially disjoint: train on the top half (minus the patch radius), test "
        "on the bottom half; random pixel splits would leak neighbours",
        "train_pixels": len(train_idx),
        "test_pixels": len(test_idx),
        "classes": names,
        "config": asdict(config),
        "oa": scores["oa"],
        "aa": scores["aa"],
        "kappa": scores["kappa"],
        "recall": scores["recall"],
        "confusion": scores["confusion"],
        "gan_effect": gan_effect,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if gan_effect is not None:
        print(
            f"GAN augmentation: OA {gan_effect['with_gan']['oa']:.3f} with, "
            f"{gan_effect['without_gan']['oa']:.3f} without -> kept {gan_effect['kept']}"
        )
    from hyperspectral.outputs import confusion_png

    with atomic_set(model_set(out)) as (report_tmp, confusion_tmp, model_tmp):
        report_tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        confusion_png(confusion_tmp, np.array(scores["confusion"]), names)
        model.save(model_tmp)
    print(
        f"OA {scores['oa']:.3f}  AA {scores['aa']:.3f}  kappa {scores['kappa']:.3f} "
        f"(spatially disjoint halves, {len(test_idx)} test px)"
    )
    return out


def predict_tiled(
    model: TrainedModel, cube: Any, tile_mb: float = 16.0
) -> tuple[F32Array, npt.NDArray[np.bool_]]:
    """(h, w, C) probabilities and the valid mask, tile by tile: each tile of lines is read
    with ``patch // 2`` lines of halo so patches match a whole-image prediction."""
    from hyperspectral.cube import tile_lines_for
    from smartmine.progress import progress

    h, w, bands = cube.shape
    r = model.config.patch // 2
    step = max(1, tile_lines_for(w, bands, tile_mb))
    proba = np.zeros((h, w, len(model.classes)), np.float32)
    valid = np.zeros((h, w), bool)
    for start in progress(range(0, h, step), desc="classify", unit="tile"):
        stop = min(h, start + step)
        lo, hi = max(0, start - r), min(h, stop + r)
        block = np.array(cube.data[lo:hi], dtype=np.float32)
        rows = np.arange(start - lo, stop - lo)
        idx = (rows[:, None] * w + np.arange(w)[None, :]).ravel()
        proba[start:stop] = model.predict_proba(block, idx).reshape(stop - start, w, -1)
        valid[start:stop] = cube.valid_mask(block[start - lo : stop - lo])
    return proba, valid


def classify_with_model(
    model_path: Path,
    cube_path: Path,
    out_dir: Path,
    overwrite: bool = False,
    labels: Path | None = None,
    contamination_path: str | Path = "",
) -> Path:
    """Class map, probabilities and heat map of a cube from a trained model (heat
    weights by the mineral of each class name, or ``contamination_path``'s); with
    ``labels`` (a reference raster, read before any work) the agreement by class name,
    the confusion matrix and the per-class table in the report, as for the library."""
    from hyperspectral import outputs
    from hyperspectral.contamination import weights_for
    from hyperspectral.cube import open_cube

    out = Path(out_dir)
    outputs.check_output_folder(out, overwrite)
    model = load_model(model_path)
    weights, contamination = weights_for(model.classes, contamination_path)  # before any work
    cube = open_cube(cube_path)
    bands = cube.shape[2]
    if bands != len(model.mean):
        raise HyperspectralError(f"{cube_path}: {bands} bands, the model wants {len(model.mean)}")
    truth = None if labels is None else read_labels(Path(labels), cube.shape[:2])
    proba, valid = predict_tiled(model, cube)
    if not valid.any():
        raise HyperspectralError(f"{cube.source}: no pixel holds data (all NaN or constant)")
    classes = np.where(valid, proba.argmax(axis=-1) + 1, 0).astype(np.uint16)
    heat = np.where(valid, proba @ weights, np.nan).astype(np.float32)
    with outputs.products_folder(out, overwrite) as tmp:
        _write_model_products(
            tmp, model, cube, classes, proba, heat, model_path, cube_path, contamination, truth
        )
    return out


def _write_model_products(
    out: Path,
    model: TrainedModel,
    cube: Any,
    labels: npt.NDArray[np.uint16],
    proba: F32Array,
    heat: F32Array,
    model_path: Path,
    cube_path: Path,
    contamination: ContaminationMap,
    truth: tuple[I64Array, list[str]] | None = None,
) -> None:
    from hyperspectral import outputs
    from hyperspectral.labels import compare_with_labels

    outputs.write_envi_classification(
        out / "class_map.hdr", labels, model.classes, cube.georef, "smartmine CNN classification"
    )
    outputs.write_geotiff(
        out / "class_probability.tif", proba, cube.georef, band_names=model.classes
    )
    if contamination.mapped:  # else an all-zero heat map would read as "clean"
        outputs.write_geotiff(out / "heat_map.tif", heat, cube.georef, nodata=float("nan"))
        outputs.heat_map_png(out / "heat_map.png", heat, "contamination index 0-1")
    outputs.class_map_png(
        out / "class_map.png", labels, model.classes, f"{Path(cube_path).name} (CNN)"
    )
    report = outputs.class_report(
        labels, model.classes, cube, heat if contamination.mapped else None
    )
    contamination.add_to_report(report)
    report.update({"cube": str(cube_path), "model": str(model_path)})
    tables: list[Any] = []
    if truth is not None:  # agreement by class name, as for the library classifier
        entries, table = compare_with_labels(truth, labels, model.classes, out)
        report.update(entries)
        tables.append(table)
    title = "Hyperspectral classification (CNN)"
    outputs.write_hsi_report(
        out, title, report, asdict(model.config), [contamination.table(), *tables]
    )
