"""Ground-truth tasks for mutual-information estimators: distributions whose MI is known.

Every task is a ``Task``: a sampler ``sample(n, seed) -> (x, y)`` or ``(x, y, z)`` and the true value
``truth`` in nats (``truth_se`` is its Monte Carlo standard error, 0 where the value is exact). ``x``,
``y`` and ``z`` are float64 numpy arrays of shape (n, d); class labels are int64 arrays of shape (n,).
Draws are deterministic per (task, seed): the seed is mixed with a hash of the task name, so two tasks
never share a random stream.

The families follow the design of the "Beyond normal" benchmark (Czyz et al., NeurIPS 2023), rebuilt
here from the definitions; all truths are derived below.

Multivariate Gaussian (``gauss-dense-d*``, ``gauss-sparse-d*``)
    (X, Y) ~ N(0, S) with blocks S_x, S_y, S_xy. With h(N(0, S)) = 0.5 log((2 pi e)^p det S),
    I(X; Y) = h(X) + h(Y) - h(X, Y) = 0.5 log(det S_x det S_y / det S).
    *Dense*: all dim_x + dim_y variables equicorrelated with rho = 0.5, S = (1 - rho) I + rho 1 1^T.
    An equicorrelation m x m matrix has det = (1 - rho)^(m-1) (1 + (m-1) rho); for dim_x = dim_y = d
    and rho = 1/2 this gives I = 0.5 log((d + 1)^2 / (2d + 1)) (0.144 nats at d = 1, 1.29 at d = 25).
    *Sparse*: S_x = I, S_y = I and only the first k = min(2, d) pairs (X_i, Y_i) correlated with rho =
    0.8, so I = -(k / 2) log(1 - rho^2); the other coordinates are pure noise.

Student-t (``student-t-d*-nu*``)
    (X, Y) = sqrt(nu / W) G with G ~ N(0, S), W ~ chi^2_nu independent: the multivariate t with nu
    degrees of freedom and scale S (sparse structure, rho = 0.6). Its marginals are t with the same nu
    and the sub-blocks of S as scales. The entropy of a p-dimensional t (Arellano-Valle, Contreras-Reyes
    and Genton, Scand. J. Stat. 2013) is
        h_p = 0.5 log det S + (p/2) log(nu pi) + log Gamma(nu/2) - log Gamma((nu+p)/2)
              + ((nu+p)/2) [psi((nu+p)/2) - psi(nu/2)].
    In I = h_{dx} + h_{dy} - h_{dx+dy} the (p/2) log(nu pi) terms cancel (dx + dy - (dx + dy) = 0) and
    the psi(nu/2) coefficients add to -(nu+dx)/2 - (nu+dy)/2 + (nu+dx+dy)/2 = -nu/2, so
        I = 0.5 log(det S_x det S_y / det S) + c(nu, dx, dy),
        c = log Gamma(nu/2) + log Gamma((nu+dx+dy)/2) - log Gamma((nu+dx)/2) - log Gamma((nu+dy)/2)
            + (nu+dx)/2 psi((nu+dx)/2) + (nu+dy)/2 psi((nu+dy)/2)
            - (nu+dx+dy)/2 psi((nu+dx+dy)/2) - nu/2 psi(nu/2).
    The first line of c is -log of a ratio of Beta functions, B((nu+dx)/2, dy/2) / B(nu/2, dy/2).
    c > 0 (the shared scale W makes even uncorrelated coordinates dependent) and c -> 0 as nu -> oo,
    where the Gaussian value is recovered.

Invertible transforms (``halfcube-*``, ``asinh-*``, ``normal-cdf-*``, ``spiral-*``, ``wiggly-*``)
    MI is invariant under injective differentiable maps applied to X and to Y separately (the Jacobian
    terms cancel between the joint and the marginal densities), so f(X), g(Y) keeps the base truth.
    Maps, applied to both X and Y: half-cube x |x|^(1/2); asinh; the standard normal CDF; wiggly
    x + 0.4 sin(2x) (derivative 1 + 0.8 cos 2x >= 0.2, strictly increasing); spiral: rotate each
    coordinate pair (1,2), (3,4), ... of the vector by the angle ``speed * ||x||``. A rotation keeps the
    norm, so the angle can be read back from the output and undone: the spiral is a bijection of R^d
    (d >= 2) although it is not coordinate-wise.

Additive uniform noise (``uniform-noise-eps*``)
    X ~ U(0, 1), U ~ U(-eps, eps), Y = X + U, so h(Y | X) = log(2 eps) and I = h(Y) - log(2 eps).
    p_Y is the trapezoid (min(1, y + eps) - max(0, y - eps)) / (2 eps).
    eps <= 1/2: two linear ramps of width 2 eps from 0 to 1 and a flat part at 1 (which adds nothing to
    the entropy); each ramp gives -int_0^1 t log t (2 eps) dt = eps / 2, so h(Y) = eps and
    I = eps - log(2 eps).
    eps > 1/2: ramps of width 1 up to height 1 / (2 eps) and a flat part of length 2 eps - 1; summing
    the pieces gives h(Y) = log(2 eps) + 1 / (4 eps), so I = 1 / (4 eps). Both agree at eps = 1/2.

Gaussian mixture with its label (``mixture-c*-d*``; y = class labels)
    C ~ pi, X | C = c ~ N(mu_c, diag(s_c^2)). I(X; C) = H(C) - E_X[H(C | X)], with H(C) exact and the
    posterior p(c | x) known exactly, so E[H(C | X)] is a plain Monte Carlo average over 10^6 draws of
    the (Rao-Blackwellised) posterior entropy; ``truth_se`` = sd / sqrt(10^6) of that average. Measured
    standard errors: 1.9e-4 to 4.4e-4 nats over the mixture and activation tasks (computed once per
    process on first use of ``truth``, about 0.3-1.6 s each, cached by ``functools.lru_cache``).

Activation-like tasks (``act-tanh-*``, ``act-relu-*``; y = class labels)
    Features g | C = c ~ N(mu_c, I_d), pre-activations h = W g with W = D Q (Q orthogonal, D positive
    diagonal), activations T = tanh(h) or ReLU(h). Given c, h ~ N(W mu_c, D^2) has independent
    coordinates. tanh and W are invertible, so I(T; C) = I(g; C) = I(h; C): the mixture above.
    ReLU is not invertible; with T_i = max(0, h_i) the density of T given c, with respect to the product
    of (Lebesgue + point mass at 0) measures, is prod_i [phi(t_i; m_ci, D_i) if t_i > 0 else
    Phi(-m_ci / D_i)], which gives the posterior p(c | t) exactly, and the same Monte Carlo applies.

Gaussian conditional MI (``cmi-gauss-*``; sample returns (x, y, z))
    Z ~ N(0, I), X = A Z + E_x, Y = B Z + E_y with (E_x, E_y) jointly Gaussian, independent of Z, the
    first min(dx, dy) pairs correlated with rho. For jointly Gaussian variables
    I(X; Y | Z) = h(X,Z) + h(Y,Z) - h(Z) - h(X,Y,Z) = 0.5 log(det S_xz det S_yz / (det S_z det S)),
    computed from the full covariance; by construction it equals I(E_x; E_y) = -(k/2) log(1 - rho^2).
    The ``indep`` task has rho = 0: X and Y are dependent through Z but I(X; Y | Z) = 0.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import functools
import math
import zlib
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import special

Samples = tuple[np.ndarray, ...]
Sampler = Callable[[int, np.random.Generator], Samples]

MC_SAMPLES = 1_000_000  # Monte Carlo draws behind every estimated truth


def _name_hash(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _structure_rng(name: str) -> np.random.Generator:
    """Fixed randomness that defines a task (means, mixing matrices): the same in every process."""
    return np.random.default_rng(np.random.SeedSequence([0x5EED, _name_hash(name)]))


@dataclass(frozen=True, eq=False)
class Task:
    """A distribution with known MI. ``truth_fn`` returns (value in nats, standard error)."""

    name: str
    family: str
    dim_x: int
    dim_y: int  # 1 for class labels
    truth_fn: Callable[[], tuple[float, float]] = field(repr=False)
    sampler: Sampler = field(repr=False)
    conditional: bool = False
    dim_z: int = 0
    labels: bool = False  # y is an int64 label vector (n,)
    n_classes: int = 0
    description: str = ""

    @property
    def truth(self) -> float:
        return float(self.truth_fn()[0])

    @property
    def truth_se(self) -> float:
        return float(self.truth_fn()[1])

    @property
    def dim(self) -> int:
        """Total dimensionality of the variables an estimator sees (x, y and z)."""
        return self.dim_x + self.dim_y + self.dim_z

    def sample(self, n: int, seed: int = 0) -> Samples:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"task {self.name!r}: n must be a positive integer, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"task {self.name!r}: seed must be a non-negative integer, got {seed!r}")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), _name_hash(self.name)]))
        return tuple(self.sampler(int(n), rng))


def _exact(value: float) -> Callable[[], tuple[float, float]]:
    return lambda: (float(value), 0.0)


# ---------------------------------------------------------------------------------------------------
# Gaussian closed forms
# ---------------------------------------------------------------------------------------------------

def _logdet(a: np.ndarray) -> float:
    if a.size == 0:
        return 0.0
    sign, val = np.linalg.slogdet(a)
    if sign <= 0:
        raise ValueError("covariance block is not positive definite")
    return float(val)


def gaussian_mi_from_cov(cov: np.ndarray, dim_x: int) -> float:
    """I(X; Y) = 0.5 log(det S_x det S_y / det S) for (X, Y) ~ N(., cov), X the first dim_x coordinates."""
    cov = np.asarray(cov, dtype=np.float64)
    return 0.5 * (_logdet(cov[:dim_x, :dim_x]) + _logdet(cov[dim_x:, dim_x:]) - _logdet(cov))


def gaussian_cmi_from_cov(cov: np.ndarray, dim_x: int, dim_y: int) -> float:
    """I(X; Y | Z) = 0.5 log(det S_xz det S_yz / (det S_z det S)); order of coordinates x, y, z."""
    cov = np.asarray(cov, dtype=np.float64)
    p = cov.shape[0]
    ix, iy, iz = np.arange(dim_x), np.arange(dim_x, dim_x + dim_y), np.arange(dim_x + dim_y, p)
    xz, yz = np.concatenate([ix, iz]), np.concatenate([iy, iz])
    return 0.5 * (_logdet(cov[np.ix_(xz, xz)]) + _logdet(cov[np.ix_(yz, yz)])
                  - _logdet(cov[np.ix_(iz, iz)]) - _logdet(cov))


def dense_cov(dim_x: int, dim_y: int, rho: float = 0.5) -> np.ndarray:
    p = dim_x + dim_y
    return (1.0 - rho) * np.eye(p) + rho * np.ones((p, p))


def sparse_cov(dim_x: int, dim_y: int, rho: float = 0.8, n_pairs: int = 2) -> np.ndarray:
    cov = np.eye(dim_x + dim_y)
    for i in range(min(n_pairs, dim_x, dim_y)):
        cov[i, dim_x + i] = cov[dim_x + i, i] = rho
    return cov


def _gaussian_draw(cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((n, cov.shape[0])) @ np.linalg.cholesky(cov).T


def _split(a: np.ndarray, *dims: int) -> Samples:
    return tuple(np.ascontiguousarray(p) for p in np.split(a, np.cumsum(dims)[:-1], axis=1))


def student_t_mi_correction(nu: float, dim_x: int, dim_y: int) -> float:
    """c(nu, dx, dy): MI of the multivariate t minus the Gaussian MI of its scale matrix (see module)."""
    a, ax, ay, axy = nu / 2, (nu + dim_x) / 2, (nu + dim_y) / 2, (nu + dim_x + dim_y) / 2
    lg, dg = special.gammaln, special.digamma
    return float(lg(a) + lg(axy) - lg(ax) - lg(ay)
                 + ax * dg(ax) + ay * dg(ay) - axy * dg(axy) - a * dg(a))


def _gaussian_task(name: str, family: str, cov: np.ndarray, d: int, description: str) -> Task:
    def sampler(n: int, rng: np.random.Generator) -> Samples:
        return _split(_gaussian_draw(cov, n, rng), d, d)

    return Task(name, family, d, d, _exact(gaussian_mi_from_cov(cov, d)), sampler,
                description=description)


def _student_t_task(d: int, nu: float, rho: float = 0.6) -> Task:
    cov = sparse_cov(d, d, rho)
    truth = gaussian_mi_from_cov(cov, d) + student_t_mi_correction(nu, d, d)

    def sampler(n: int, rng: np.random.Generator) -> Samples:
        g = _gaussian_draw(cov, n, rng)
        w = rng.chisquare(nu, size=(n, 1))
        return _split(g * np.sqrt(nu / w), d, d)

    return Task(f"student-t-d{d}-nu{nu:g}", "student-t", d, d, _exact(truth), sampler,
                description=f"multivariate t, nu={nu:g}, scale: {min(2, d)} pairs with rho={rho}")


# ---------------------------------------------------------------------------------------------------
# Invertible transforms
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transform:
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    elementwise: bool  # True: strictly increasing in each coordinate separately
    min_dim: int = 1


def _wiggly_inverse(y: np.ndarray, iterations: int = 60) -> np.ndarray:
    # x + 0.4 sin(2x) = y puts the root in [y - 0.4, y + 0.4]; bisection on a monotone map is exact
    lo, hi = y - 0.4, y + 0.4
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = mid + 0.4 * np.sin(2 * mid) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def _rotate_pairs(x: np.ndarray, angle: np.ndarray) -> np.ndarray:
    out = x.copy()
    c, s = np.cos(angle), np.sin(angle)
    m = x.shape[1] // 2 * 2
    a, b = x[:, 0:m:2], x[:, 1:m:2]
    out[:, 0:m:2] = c * a - s * b
    out[:, 1:m:2] = s * a + c * b
    return out


def spiral(x: np.ndarray, speed: float = 1.0) -> np.ndarray:
    if x.shape[1] < 2:
        raise ValueError(f"spiral needs at least 2 coordinates, got shape {x.shape}")
    return _rotate_pairs(x, speed * np.linalg.norm(x, axis=1, keepdims=True))


def spiral_inverse(y: np.ndarray, speed: float = 1.0) -> np.ndarray:
    return _rotate_pairs(y, -speed * np.linalg.norm(y, axis=1, keepdims=True))


TRANSFORMS: dict[str, Transform] = {t.name: t for t in [
    Transform("halfcube", lambda x: x * np.sqrt(np.abs(x)),
              lambda y: np.sign(y) * np.abs(y) ** (2.0 / 3.0), True),
    Transform("asinh", np.arcsinh, np.sinh, True),
    Transform("normal-cdf", special.ndtr, special.ndtri, True),
    Transform("wiggly", lambda x: x + 0.4 * np.sin(2.0 * x), _wiggly_inverse, True),
    Transform("spiral", spiral, spiral_inverse, False, min_dim=2),
]}


def transformed(base: Task, transform: str) -> Task:
    """Apply an invertible map to X and to Y of ``base``: the truth is unchanged."""
    tf = TRANSFORMS[transform]
    if base.labels or base.conditional:
        raise ValueError(f"transform {transform!r}: base task {base.name!r} must be a plain (x, y) task")
    if min(base.dim_x, base.dim_y) < tf.min_dim:
        raise ValueError(f"transform {transform!r} needs dim >= {tf.min_dim}; {base.name!r} has "
                         f"dims ({base.dim_x}, {base.dim_y})")

    def sampler(n: int, rng: np.random.Generator) -> Samples:
        x, y = base.sampler(n, rng)
        return tf.forward(x), tf.forward(y)

    return Task(f"{transform}-{base.name}", transform, base.dim_x, base.dim_y, base.truth_fn, sampler,
                description=f"{transform} of X and Y; base: {base.description}")


# ---------------------------------------------------------------------------------------------------
# Additive uniform noise
# ---------------------------------------------------------------------------------------------------

def uniform_noise_mi(eps: float) -> float:
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    return eps - math.log(2 * eps) if eps <= 0.5 else 1.0 / (4 * eps)


def _uniform_noise_task(eps: float) -> Task:
    def sampler(n: int, rng: np.random.Generator) -> Samples:
        x = rng.random((n, 1))
        return x, x + rng.uniform(-eps, eps, size=(n, 1))

    return Task(f"uniform-noise-eps{eps:g}", "uniform-noise", 1, 1, _exact(uniform_noise_mi(eps)),
                sampler, description=f"Y = X + U, X ~ U(0,1), U ~ U(-{eps:g}, {eps:g})")


# ---------------------------------------------------------------------------------------------------
# Class mixtures (labels), activations
# ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassMixture:
    """C ~ priors; H | C = c ~ N(means[c], diag(stds[c]^2)); T = activation(H). Tuples: hashable."""

    priors: tuple[float, ...]
    means: tuple[tuple[float, ...], ...]
    stds: tuple[tuple[float, ...], ...]
    activation: Optional[str] = None  # None, "tanh" (invertible) or "relu"

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(self.priors), np.asarray(self.means), np.asarray(self.stds)


def _class_loglik(t: np.ndarray, means: np.ndarray, stds: np.ndarray, activation: Optional[str]
                  ) -> np.ndarray:
    """log p(t | c) for every row of t and class c, shape (n, K), up to terms equal for all classes."""
    if activation == "tanh":  # undo the bijection; its Jacobian is the same for every class
        t = np.arctanh(t)
    z = (t[:, None, :] - means[None]) / stds[None]
    logpdf = -0.5 * z * z - np.log(stds)[None]
    if activation == "relu":
        log_p0 = special.log_ndtr(-means / stds)  # P(h_i <= 0 | c)
        logpdf = np.where((t > 0)[:, None, :], logpdf, log_p0[None])
    return logpdf.sum(axis=2)


def mixture_label_mi_mc(mix: ClassMixture, n_mc: int = MC_SAMPLES, seed: int = 20240607,
                        chunk: int = 50_000) -> tuple[float, float]:
    """I(T; C) = H(C) - E[H(C | T)] by Monte Carlo with the exact posterior; returns (value, s.e.)."""
    priors, means, stds = mix.arrays()
    log_prior = np.log(priors)
    h_c = float(-(priors * log_prior).sum())
    rng = np.random.default_rng(seed)
    total, total_sq, done = 0.0, 0.0, 0
    while done < n_mc:
        m = min(chunk, n_mc - done)
        c = rng.choice(len(priors), size=m, p=priors)
        h = means[c] + stds[c] * rng.standard_normal((m, means.shape[1]))
        t = _activate(h, mix.activation)
        logpost = log_prior[None] + _class_loglik(t, means, stds, mix.activation)
        logpost -= special.logsumexp(logpost, axis=1, keepdims=True)
        ent = -(np.exp(logpost) * logpost).sum(axis=1)
        total, total_sq, done = total + ent.sum(), total_sq + (ent * ent).sum(), done + m
    mean = total / n_mc
    var = max(total_sq / n_mc - mean * mean, 0.0)
    return h_c - mean, math.sqrt(var / n_mc)


@functools.lru_cache(maxsize=None)
def cached_mixture_truth(mix: ClassMixture) -> tuple[float, float]:
    return mixture_label_mi_mc(mix)


def _activate(h: np.ndarray, activation: Optional[str]) -> np.ndarray:
    if activation is None:
        return h
    if activation == "tanh":
        return np.tanh(h)
    if activation == "relu":
        return np.maximum(h, 0.0)
    raise ValueError(f"activation must be None, 'tanh' or 'relu', got {activation!r}")


def _tuples(a: np.ndarray) -> tuple:
    return tuple(map(tuple, np.asarray(a, dtype=np.float64).tolist())) if a.ndim == 2 else tuple(a.tolist())


def _mixture_task(name: str, priors: np.ndarray, means: np.ndarray, stds: np.ndarray) -> Task:
    mix = ClassMixture(_tuples(priors / priors.sum()), _tuples(means), _tuples(stds))
    p, mu, sd = mix.arrays()

    def sampler(n: int, rng: np.random.Generator) -> Samples:
        c = rng.choice(len(p), size=n, p=p)
        return mu[c] + sd[c] * rng.standard_normal((n, mu.shape[1])), c.astype(np.int64)

    return Task(name, "mixture", mu.shape[1], 1, functools.partial(cached_mixture_truth, mix), sampler,
                labels=True, n_classes=len(p),
                description=f"{len(p)}-class Gaussian mixture in {mu.shape[1]}-D against its label")


def _activation_task(activation: str, n_classes: int, d: int) -> Task:
    name = f"act-{activation}-c{n_classes}-d{d}"
    # tanh and ReLU tasks of one size share g and W, so they differ only in the activation
    rng = _structure_rng(f"act-c{n_classes}-d{d}")
    mu_g = rng.standard_normal((n_classes, d))
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q = q * np.sign(np.diag(r))[None]
    w = np.diag(np.linspace(0.5, 1.5, d)) @ q
    # h = W g given c: mean W mu_c, covariance W W^T = D Q Q^T D = D^2 (independent coordinates)
    mix = ClassMixture(_tuples(np.full(n_classes, 1.0 / n_classes)), _tuples(mu_g @ w.T),
                       _tuples(np.tile(np.linspace(0.5, 1.5, d), (n_classes, 1))), activation)
    truth_mix = mix if activation == "relu" else ClassMixture(mix.priors, mix.means, mix.stds, None)

    def sampler(n: int, rng: np.random.Generator) -> Samples:
        c = rng.integers(0, n_classes, size=n)
        g = mu_g[c] + rng.standard_normal((n, d))
        return _activate(g @ w.T, activation), c.astype(np.int64)

    return Task(name, f"activation-{activation}", d, 1, functools.partial(cached_mixture_truth, truth_mix),
                sampler, labels=True, n_classes=n_classes,
                description=f"{activation}(W g), g | c ~ N(mu_c, I_{d}), {n_classes} classes")


# ---------------------------------------------------------------------------------------------------
# Conditional MI
# ---------------------------------------------------------------------------------------------------

def cmi_cov(a: np.ndarray, b: np.ndarray, rho: float) -> np.ndarray:
    """Covariance of (X, Y, Z) for X = A Z + E_x, Y = B Z + E_y, corr(E_x_i, E_y_i) = rho (first pairs)."""
    dx, dz = a.shape
    dy = b.shape[0]
    r = np.zeros((dx, dy))
    k = min(dx, dy)
    r[np.arange(k), np.arange(k)] = rho
    return np.block([[a @ a.T + np.eye(dx), a @ b.T + r, a],
                     [b @ a.T + r.T, b @ b.T + np.eye(dy), b],
                     [a.T, b.T, np.eye(dz)]])


def _cmi_task(dx: int, dy: int, dz: int, rho: float) -> Task:
    name = f"cmi-gauss{'-indep' if rho == 0 else ''}-dx{dx}-dy{dy}-dz{dz}"
    rng = _structure_rng(name)
    # a shared loading makes X and Y clearly dependent through Z, so the rho = 0 task tests that an
    # estimator conditions rather than reporting I(X; Y)
    common = rng.standard_normal((max(dx, dy), dz))
    a = (common[:dx] + 0.3 * rng.standard_normal((dx, dz))) / math.sqrt(dz)
    b = (common[:dy] + 0.3 * rng.standard_normal((dy, dz))) / math.sqrt(dz)
    cov = cmi_cov(a, b, rho)

    def sampler(n: int, rng: np.random.Generator) -> Samples:
        return _split(_gaussian_draw(cov, n, rng), dx, dy, dz)

    # MI >= 0; the max only removes round-off (about -1e-17) from the rho = 0 task
    return Task(name, "gaussian-cmi", dx, dy, _exact(max(0.0, gaussian_cmi_from_cov(cov, dx, dy))), sampler,
                conditional=True, dim_z=dz,
                description=f"X = A Z + E_x, Y = B Z + E_y, corr(E_x, E_y) = {rho} on min(dx, dy) pairs")


# ---------------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------------

GAUSS_DIMS = (1, 2, 3, 5, 10, 25)


# ---------------------------------------------------------------------------------------------------
# The "Beyond normal" standard task list (Czyz, Grabowski, Vogt, Beerenwinkel, Marx, NeurIPS 2023)
# ---------------------------------------------------------------------------------------------------

BEYOND_NORMAL_FAMILY = "beyond-normal"
BIMODAL_COMPONENTS = ((0.5, -1.0, 0.5), (0.5, 1.0, 0.5))  # (weight, mean, sd) of the bimodal marginal


def _bimodal_quantile(u: np.ndarray, iterations: int = 80) -> np.ndarray:
    """The quantile function of the two-component Gaussian mixture BIMODAL_COMPONENTS (bisection on its
    strictly increasing CDF)."""
    def cdf(x):
        return sum(w * special.ndtr((x - m) / s) for w, m, s in BIMODAL_COMPONENTS)

    lo, hi = np.full_like(u, -12.0), np.full_like(u, 12.0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = cdf(mid) < u
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def swissroll(u: np.ndarray) -> np.ndarray:
    """(n, 1) values in (0, 1) -> (n, 2) points on a swiss roll: t = 1.5 pi (1 + 2u), (t cos t, t sin t) / 10.
    The radius t grows with u, so the embedding is injective (the MI is kept)."""
    t = 1.5 * np.pi * (1.0 + 2.0 * u[:, :1])
    return np.concatenate([t * np.cos(t), t * np.sin(t)], axis=1) / 10.0


def _renamed(task: Task, name: str, description: str = "") -> Task:
    return dataclasses.replace(task, name=name, family=BEYOND_NORMAL_FAMILY,
                               description=description or task.description)


def _beyond_normal_tasks() -> list[Task]:
    """The 40 tasks of the "Beyond normal" benchmark's standard list, defined as that paper defines them
    (its public task list: binormal rho = 0.75; additive noise eps 0.1, 0.75; dense multinormals with every
    correlation 0.5; "2-pair" multinormals with (X_1, Y_1), (X_2, Y_2) correlated at 0.8 and the rest
    independent; Student-t with identity dispersion; the half-cube, normal-CDF, asinh, wiggly and spiral
    transforms and the swiss-roll embedding, none of which changes the MI). The truths are the closed forms
    above. The invertible maps are ours (same kind, not the same parameters: the spiral here rotates
    coordinate pairs, theirs uses a random generator), so estimates compare with that paper's on the same
    distributions' truths, not sample for sample. Family name: ``beyond-normal`` (a config selects the set
    with ``tasks: [beyond-normal]``)."""
    binormal = _renamed(_gaussian_task("", "", np.array([[1.0, 0.75], [0.75, 1.0]]), 1, ""), "bn-1v1-normal-0.75",
                        "bivariate normal, rho=0.75")
    uniform = _renamed(transformed(binormal, "normal-cdf"), "bn-1v1-uniform-0.75")

    def bimodal_sampler(n: int, rng: np.random.Generator) -> Samples:
        x, y = binormal.sampler(n, rng)
        return _bimodal_quantile(special.ndtr(x)), _bimodal_quantile(special.ndtr(y))

    def swiss_sampler(n: int, rng: np.random.Generator) -> Samples:
        x, y = uniform.sampler(n, rng)
        return swissroll(x), y

    def student(d: int, nu: int) -> Task:
        return _renamed(_student_t_task(d, nu, rho=0.0), f"bn-student-identity-{d}-{d}-{nu}",
                        f"multivariate t, nu={nu}, identity dispersion")

    st11 = student(1, 1)
    tasks = [binormal, uniform,
             *(_renamed(_uniform_noise_task(e), f"bn-1v1-additive-{e:g}") for e in (0.1, 0.75)),
             Task("bn-1v1-bimodal-0.75", BEYOND_NORMAL_FAMILY, 1, 1, binormal.truth_fn, bimodal_sampler,
                  description="binormal rho=0.75 with bimodal marginals (Gaussian-mixture quantiles of Phi)"),
             _renamed(transformed(binormal, "wiggly"), "bn-1v1-wiggly-0.75"),
             _renamed(transformed(binormal, "halfcube"), "bn-1v1-halfcube-0.75"),
             st11, _renamed(transformed(st11, "asinh"), "bn-asinh-student-identity-1-1-1"),
             Task("bn-swissroll-2x1", BEYOND_NORMAL_FAMILY, 2, 1, binormal.truth_fn, swiss_sampler,
                  description="X of the uniform 1 x 1 task embedded in a 2-D swiss roll")]
    tasks += [_renamed(_gaussian_task("", "", dense_cov(d, d, 0.5), d, ""), f"bn-multinormal-dense-{d}-{d}-0.5",
                       "all coordinates equicorrelated, rho=0.5") for d in (2, 3, 5, 25, 50)]
    two_pair = {d: _renamed(_gaussian_task("", "", sparse_cov(d, d, 0.8), d, ""), f"bn-multinormal-2pair-{d}-{d}",
                            "(X_1, Y_1), (X_2, Y_2) with rho=0.8, the rest independent") for d in (2, 3, 5, 25)}
    tasks += list(two_pair.values())
    tasks += [student(d, nu) for d, nu in ((2, 1), (2, 2), (3, 2), (3, 3), (5, 2), (5, 3))]
    for d in (3, 5, 25):
        base = two_pair[d]
        tasks += [_renamed(transformed(base, tf), f"bn-{tf}-multinormal-2pair-{d}-{d}")
                  for tf in ("normal-cdf", "halfcube", "spiral")]
        tasks.append(_renamed(transformed(transformed(base, "normal-cdf"), "spiral"),
                              f"bn-spiral-normal-cdf-multinormal-2pair-{d}-{d}"))
    tasks += [_renamed(transformed(student(d, nu), "asinh"), f"bn-asinh-student-identity-{d}-{d}-{nu}")
              for d, nu in ((2, 1), (3, 2), (5, 2))]
    return tasks


def _build_registry() -> dict[str, Task]:
    tasks: list[Task] = []
    for d in GAUSS_DIMS:
        tasks.append(_gaussian_task(f"gauss-dense-d{d}", "gaussian-dense", dense_cov(d, d, 0.5), d,
                                    "all coordinates equicorrelated, rho=0.5"))
    for d in GAUSS_DIMS:
        tasks.append(_gaussian_task(f"gauss-sparse-d{d}", "gaussian-sparse", sparse_cov(d, d, 0.8), d,
                                    f"{min(2, d)} pairs (X_i, Y_i) with rho=0.8, the rest noise"))
    for d in (1, 2, 5):
        for nu in (1, 3):
            tasks.append(_student_t_task(d, nu))
    by_name = {t.name: t for t in tasks}
    for transform, bases in [("halfcube", ["gauss-sparse-d1", "gauss-sparse-d2", "gauss-sparse-d5"]),
                             ("asinh", ["student-t-d1-nu1", "student-t-d2-nu1", "student-t-d5-nu1"]),
                             ("normal-cdf", ["gauss-sparse-d1", "gauss-sparse-d2", "gauss-sparse-d5"]),
                             ("spiral", ["gauss-sparse-d2", "gauss-sparse-d3", "gauss-sparse-d5"]),
                             ("wiggly", ["gauss-sparse-d1", "gauss-sparse-d2", "gauss-sparse-d5"])]:
        tasks.extend(transformed(by_name[b], transform) for b in bases)
    tasks.extend(_uniform_noise_task(eps) for eps in (0.1, 0.75))

    tasks.append(_mixture_task("mixture-c3-d1", np.array([0.5, 0.3, 0.2]),
                               np.array([[-1.5], [0.0], [2.0]]), np.array([[1.0], [0.5], [0.8]])))
    angles = 2 * np.pi * np.arange(10) / 10
    tasks.append(_mixture_task("mixture-c10-d2", np.full(10, 0.1),
                               2.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1),
                               np.full((10, 2), 0.6)))
    rng = _structure_rng("mixture-c10-d5")
    tasks.append(_mixture_task("mixture-c10-d5", rng.uniform(0.5, 1.5, 10), rng.standard_normal((10, 5)),
                               rng.uniform(0.5, 1.0, (10, 5))))
    for activation in ("tanh", "relu"):
        for d in (2, 10):
            tasks.append(_activation_task(activation, 10, d))

    tasks.extend([_cmi_task(1, 1, 1, 0.6), _cmi_task(1, 1, 3, 0.6), _cmi_task(2, 2, 2, 0.6),
                  _cmi_task(1, 1, 2, 0.0)])
    tasks.extend(_beyond_normal_tasks())
    registry: dict[str, Task] = {}
    for t in tasks:
        if t.name in registry:
            raise RuntimeError(f"duplicate task name {t.name!r}")
        registry[t.name] = t
    return registry


TASKS: dict[str, Task] = _build_registry()
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(t.family for t in TASKS.values()))


def all_tasks() -> list[Task]:
    return list(TASKS.values())


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; available: {sorted(TASKS)}") from None


def select_tasks(patterns: Sequence[str]) -> list[Task]:
    """Tasks whose name or family matches any of the shell-style ``patterns`` (registry order).

    A pattern that matches nothing raises ``KeyError`` naming it, so a typo in a config is caught.
    """
    chosen: dict[str, Task] = {}
    for pat in patterns:
        hits = [t for t in TASKS.values() if fnmatch.fnmatchcase(t.name, pat) or t.family == pat]
        if not hits:
            raise KeyError(f"task pattern {pat!r} matches no task; families: {list(FAMILIES)}; "
                           f"names: {sorted(TASKS)}")
        chosen.update((t.name, t) for t in hits)
    return [t for t in TASKS.values() if t.name in chosen]


__all__ = ["ClassMixture", "FAMILIES", "MC_SAMPLES", "TASKS", "TRANSFORMS", "Task", "Transform",
           "all_tasks", "cached_mixture_truth", "cmi_cov", "dense_cov", "gaussian_cmi_from_cov",
           "gaussian_mi_from_cov", "get_task", "mixture_label_mi_mc", "select_tasks", "sparse_cov",
           "spiral", "spiral_inverse", "student_t_mi_correction", "transformed", "uniform_noise_mi"]
