"""Data sets of the training study: scikit-learn's digits and a seeded Gaussian mixture.

Both come as a :class:`Dataset`: standardised float32 features and int64 labels, a train, a
validation and a test part, every random choice drawn from a named stream
(:func:`softmaxlab.sampling.stream`) of the study's seed, so the same seed gives the same
arrays on every machine. The validation part chooses each method's learning rate (and the
logistic regression's regularisation), so the test part is read only to report: a choice made
on the test part would flatter every method by its pick of the test sample's noise.

* ``digits``: ``sklearn.datasets.load_digits`` (1,797 8x8 images, 10 classes, shipped with
  scikit-learn: no download), split by ``sklearn.model_selection.train_test_split``
  (stratified by class) into a test part (DIGITS_TEST_SIZE) and the rest, and that rest
  into the training and the validation part (DIGITS_VALIDATION_SIZE of it), then
  standardised with ``sklearn.preprocessing.StandardScaler`` fitted on the training part only
  (constant pixels keep scale 1, as StandardScaler does).
* ``mixture``: K isotropic unit-variance Gaussians in d dimensions with means
  ``separation * u_c`` (u_c fixed random unit vectors), equal class sizes. With equal priors
  and a shared isotropic covariance the Bayes classifier is the nearest mean, a linear rule,
  so a linear model can reach the Bayes accuracy, and that accuracy grows with
  ``separation`` (each pairwise half-space {z : <z, u_j - u_y> < s ||u_j - u_y||^2 / 2}
  of the noise z grows with s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from softmaxlab.sampling import stream

FEATURE_DTYPE = np.dtype(np.float32)  # features and master weights of the study
DIGITS_TEST_SIZE = 0.25  # scikit-learn's default share of the test part
DIGITS_VALIDATION_SIZE = 0.2  # the share of the rest that chooses the learning rate


@dataclass(frozen=True)
class Dataset:
    """A classification problem: features (n, d) float32, labels (n,) int64 in [0, K)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


@dataclass(frozen=True)
class Mixture:
    """The synthetic problem's parameters: K classes in d dimensions, means separation * u_c."""

    n_classes: int = 5
    n_features: int = 10
    separation: float = 3.5
    n_train: int = 400
    n_validation: int = 400
    n_test: int = 400

    def __post_init__(self):
        for key in ("n_classes", "n_features", "n_train", "n_validation", "n_test"):
            value = getattr(self, key)
            low = 2 if key == "n_classes" else 1
            if not (isinstance(value, int | np.integer) and value >= low):
                raise ValueError(f"mixture.{key} must be an integer >= {low}, got {value!r}")
        if not (np.isfinite(self.separation) and self.separation >= 0):
            raise ValueError(f"mixture.separation must be a number >= 0, got {self.separation!r}")

    @classmethod
    def from_mapping(cls, mapping) -> Mixture:
        """A Mixture from a config mapping; ValueError naming an unknown key."""
        allowed = list(cls.__dataclass_fields__)
        unknown = sorted(set(mapping) - set(allowed))
        if unknown:
            raise ValueError(
                f"training.mixture: unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}"
            )
        return cls(**mapping)


def _standardised(name, parts, n_classes) -> Dataset:
    """The parts {"train": (x, y), "validation": ..., "test": ...} standardised with the
    training part's mean and standard deviation, features cast to float32."""
    scaler = StandardScaler().fit(parts["train"][0])
    arrays = {}
    for part, (x, y) in parts.items():
        arrays[f"x_{part}"] = scaler.transform(x).astype(FEATURE_DTYPE)
        arrays[f"y_{part}"] = np.asarray(y, dtype=np.int64)
    return Dataset(name=name, n_classes=int(n_classes), **arrays)


def digits(
    seed: int,
    test_size: float = DIGITS_TEST_SIZE,
    validation_size: float = DIGITS_VALIDATION_SIZE,
) -> Dataset:
    """scikit-learn's digits in stratified parts: the test part seeded by the stream
    ("training", "digits", "split") of ``seed``, the validation part from the rest by
    ("training", "digits", "validation"); standardised on the training part."""
    x, y = load_digits(return_X_y=True)
    state = int(stream(seed, "training", "digits", "split").integers(2**31))
    x_rest, x_test, y_rest, y_test = train_test_split(
        x.astype(np.float64), y, test_size=test_size, stratify=y, random_state=state
    )
    state = int(stream(seed, "training", "digits", "validation").integers(2**31))
    x_train, x_validation, y_train, y_validation = train_test_split(
        x_rest, y_rest, test_size=validation_size, stratify=y_rest, random_state=state
    )
    parts = {
        "train": (x_train, y_train),
        "validation": (x_validation, y_validation),
        "test": (x_test, y_test),
    }
    return _standardised("digits", parts, 10)


def mixture_means(seed: int, spec: Mixture) -> np.ndarray:
    """The class means (K, d) float64: separation times unit vectors drawn (normal, then
    normalised) from the stream ("training", "mixture", "means", K, d); the directions do
    not depend on the separation, so the knob only scales them."""
    rng = stream(seed, "training", "mixture", "means", spec.n_classes, spec.n_features)
    u = rng.standard_normal((spec.n_classes, spec.n_features))
    return spec.separation * u / np.linalg.norm(u, axis=1, keepdims=True)


def _mixture_sample(seed: int, spec: Mixture, part: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n points with (nearly) equal class counts, shuffled, from the stream of ``part``.
    The noise does not depend on the separation either (common random numbers)."""
    rng = stream(seed, "training", "mixture", part, spec.n_classes, spec.n_features)
    y = rng.permutation(np.arange(n) % spec.n_classes)
    z = rng.standard_normal((n, spec.n_features))
    return mixture_means(seed, spec)[y] + z, y


def mixture(seed: int, spec: Mixture | None = None) -> Dataset:
    """The seeded Gaussian mixture (each part from its own stream), standardised on its
    training part like digits."""
    spec = Mixture() if spec is None else spec
    parts = {
        part: _mixture_sample(seed, spec, part, size)
        for part, size in (
            ("train", spec.n_train),
            ("validation", spec.n_validation),
            ("test", spec.n_test),
        )
    }
    return _standardised("mixture", parts, spec.n_classes)


def bayes_accuracy(seed: int, spec: Mixture, n: int = 200_000) -> float:
    """Monte Carlo estimate of the mixture's Bayes accuracy: the share of ``n`` fresh points
    (stream ("training", "mixture", "bayes")) whose nearest class mean is their own class
    (the Bayes rule for equal priors and identity covariance). Standard error at most
    0.5 / sqrt(n)."""
    means = mixture_means(seed, spec)
    rng = stream(seed, "training", "mixture", "bayes", spec.n_classes, spec.n_features)
    y = rng.integers(spec.n_classes, size=n)
    x = means[y] + rng.standard_normal((n, spec.n_features))
    # ||x - m_c||^2 = ||x||^2 - 2 <x, m_c> + ||m_c||^2: the first term is common to all c.
    score = 2 * x @ means.T - np.sum(means * means, axis=1)
    return float(np.mean(np.argmax(score, axis=1) == y))


def load(name: str, seed: int, spec: Mixture | None = None) -> Dataset:
    """The data set ``name`` ("digits" or "mixture") for ``seed``."""
    if name == "digits":
        return digits(seed)
    if name == "mixture":
        return mixture(seed, spec)
    raise ValueError(f"unknown training dataset {name!r}; valid datasets: digits, mixture")


DATASETS: tuple[str, ...] = ("digits", "mixture")
