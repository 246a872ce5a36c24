"""Ground truths of benchmarks.mi_tasks checked against independent computations.

Each truth is compared with something computed a different way: a closed form derived by hand, a plug-in
value on a large sample, numerical integration with scipy, or a Monte Carlo average of
log p(x, y) - log p(x) - log p(y) with scipy.stats densities.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from benchmarks import mi_tasks as mt


def plugin_gaussian_mi(x: np.ndarray, y: np.ndarray) -> float:
    return mt.gaussian_mi_from_cov(np.cov(np.hstack([x, y]), rowvar=False), x.shape[1])


# ---------------------------------------------------------------------------------------------- registry

def test_registry_covers_the_families_and_dimensions():
    fams = set(mt.FAMILIES)
    assert {"gaussian-dense", "gaussian-sparse", "student-t", "halfcube", "asinh", "normal-cdf", "spiral",
            "wiggly", "uniform-noise", "mixture", "activation-tanh", "activation-relu",
            "gaussian-cmi"} <= fams
    gauss_dims = {t.dim_x for t in mt.all_tasks() if t.family.startswith("gaussian-") and not t.conditional}
    assert {1, 25} <= gauss_dims
    assert len({t.name for t in mt.all_tasks()}) == len(mt.TASKS)
    assert [t.name for t in mt.select_tasks(["gauss-dense-d1", "spiral"])] == [
        "gauss-dense-d1", "spiral-gauss-sparse-d2", "spiral-gauss-sparse-d3", "spiral-gauss-sparse-d5"]
    with pytest.raises(KeyError, match="no-such-task"):
        mt.select_tasks(["no-such-task*"])
    with pytest.raises(KeyError, match="available"):
        mt.get_task("nope")


@pytest.mark.parametrize("task", mt.all_tasks(), ids=lambda t: t.name)
def test_sampling_is_deterministic_and_well_shaped(task):
    a, b, c = task.sample(64, 3), task.sample(64, 3), task.sample(64, 4)
    assert len(a) == (3 if task.conditional else 2)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    x, y = a[0], a[1]
    assert x.shape == (64, task.dim_x) and x.dtype == np.float64 and np.isfinite(x).all()
    if task.labels:
        assert y.shape == (64,) and y.dtype == np.int64 and 0 <= y.min() and y.max() < task.n_classes
    else:
        assert y.shape == (64, task.dim_y) and y.dtype == np.float64 and np.isfinite(y).all()
    if task.conditional:
        assert a[2].shape == (64, task.dim_z)
    with pytest.raises(ValueError, match="n must be"):
        task.sample(0)


def test_every_truth_is_finite_and_nonnegative():
    for task in mt.all_tasks():
        assert math.isfinite(task.truth) and task.truth >= 0, task.name
        assert 0 <= task.truth_se < 1e-3, task.name


# ---------------------------------------------------------------------------------------------- Gaussian

@pytest.mark.parametrize("d", mt.GAUSS_DIMS)
def test_gaussian_truths_match_hand_derived_closed_forms(d):
    assert mt.get_task(f"gauss-dense-d{d}").truth == pytest.approx(0.5 * math.log((d + 1) ** 2 / (2 * d + 1)),
                                                                  abs=1e-12)
    k = min(2, d)
    assert mt.get_task(f"gauss-sparse-d{d}").truth == pytest.approx(-k / 2 * math.log(1 - 0.64), abs=1e-12)


@pytest.mark.parametrize("name", ["gauss-dense-d3", "gauss-sparse-d5", "gauss-dense-d10"])
def test_gaussian_truth_matches_plugin_on_a_large_sample(name):
    task = mt.get_task(name)
    x, y = task.sample(200_000, 0)
    assert plugin_gaussian_mi(x, y) == pytest.approx(task.truth, abs=0.01)


@pytest.mark.parametrize("name", ["gauss-dense-d1", "gauss-sparse-d1"])
def test_bivariate_gaussian_truth_by_numerical_integration(name):
    task = mt.get_task(name)
    x, y = task.sample(100_000, 1)
    rho = np.corrcoef(x[:, 0], y[:, 0])[0, 1]
    rho = round(rho, 1)  # designed correlations are 0.5 and 0.8
    # Simpson's rule on a fine grid: the integrand is smooth and negligible beyond |u|, |v| = 9
    grid = np.linspace(-9, 9, 1801)
    u, v = np.meshgrid(grid, grid, indexing="ij")
    log_joint = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).logpdf(np.stack([u, v], axis=-1))
    integrand = np.exp(log_joint) * (log_joint - stats.norm.logpdf(u) - stats.norm.logpdf(v))
    value = integrate.simpson(integrate.simpson(integrand, x=grid, axis=1), x=grid)
    assert value == pytest.approx(task.truth, abs=1e-5)


# ---------------------------------------------------------------------------------------------- Student-t

def test_student_t_correction_vanishes_in_the_gaussian_limit_and_is_positive():
    for dx, dy in [(1, 1), (2, 3), (5, 5)]:
        assert abs(mt.student_t_mi_correction(1e7, dx, dy)) < 1e-6
        assert mt.student_t_mi_correction(3, dx, dy) > mt.student_t_mi_correction(30, dx, dy) > 0
    # the first part of c is -log of a Beta-function ratio
    nu, dx, dy = 3.0, 2, 3
    lb = special.betaln((nu + dx) / 2, dy / 2) - special.betaln(nu / 2, dy / 2)
    dg = special.digamma
    c = (-lb + (nu + dx) / 2 * dg((nu + dx) / 2) + (nu + dy) / 2 * dg((nu + dy) / 2)
         - (nu + dx + dy) / 2 * dg((nu + dx + dy) / 2) - nu / 2 * dg(nu / 2))
    assert mt.student_t_mi_correction(nu, dx, dy) == pytest.approx(c, abs=1e-12)
    big_nu = mt._student_t_task(2, 1e7)
    assert big_nu.truth == pytest.approx(mt.gaussian_mi_from_cov(mt.sparse_cov(2, 2, 0.6), 2), abs=1e-6)


@pytest.mark.parametrize("name", ["student-t-d1-nu1", "student-t-d2-nu3", "student-t-d5-nu3"])
def test_student_t_truth_matches_monte_carlo_with_scipy_densities(name):
    task = mt.get_task(name)
    d, nu = task.dim_x, float(name.rsplit("nu", 1)[1])
    scale = mt.sparse_cov(d, d, 0.6)
    x, y = task.sample(40_000, 2)
    xy = np.hstack([x, y])
    joint = stats.multivariate_t(np.zeros(2 * d), scale, df=nu)
    mx = stats.multivariate_t(np.zeros(d), scale[:d, :d], df=nu)
    my = stats.multivariate_t(np.zeros(d), scale[d:, d:], df=nu)
    pmi = joint.logpdf(xy) - mx.logpdf(x) - my.logpdf(y)
    se = pmi.std() / math.sqrt(len(pmi))
    assert abs(pmi.mean() - task.truth) < 4 * se + 2e-3, (pmi.mean(), task.truth, se)


# ---------------------------------------------------------------------------------------------- transforms

@pytest.mark.parametrize("tf", list(mt.TRANSFORMS.values()), ids=lambda t: t.name)
def test_transforms_are_invertible(tf):
    x = 2.0 * np.random.default_rng(0).standard_normal((2000, 3))
    np.testing.assert_allclose(tf.inverse(tf.forward(x)), x, atol=1e-8)


@pytest.mark.parametrize("tf", [t for t in mt.TRANSFORMS.values() if t.elementwise], ids=lambda t: t.name)
def test_elementwise_transforms_are_strictly_increasing(tf):
    grid = np.linspace(-6, 6, 20001)[:, None]
    assert (np.diff(tf.forward(grid)[:, 0]) > 0).all()


def test_spiral_keeps_the_norm_and_needs_two_coordinates():
    x = np.random.default_rng(1).standard_normal((500, 5))
    y = mt.spiral(x)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-12)
    assert np.abs(y - x).max() > 1.0  # it does rotate
    with pytest.raises(ValueError, match="at least 2"):
        mt.spiral(x[:, :1])


@pytest.mark.parametrize("name", ["spiral-gauss-sparse-d3", "wiggly-gauss-sparse-d2", "halfcube-gauss-sparse-d5",
                                  "normal-cdf-gauss-sparse-d2"])
def test_transformed_tasks_keep_the_base_truth_and_undo_to_gaussians(name):
    task = mt.get_task(name)
    base = mt.get_task(name[len(task.family) + 1:])
    assert task.truth == base.truth
    tf = mt.TRANSFORMS[task.family]
    x, y = task.sample(50_000, 0)
    assert plugin_gaussian_mi(tf.inverse(x), tf.inverse(y)) == pytest.approx(task.truth, abs=0.02)


# ---------------------------------------------------------------------------------------------- uniform noise

@pytest.mark.parametrize("eps", [0.05, 0.1, 0.3, 0.5, 0.75, 2.0])
def test_uniform_noise_truth_by_numerical_integration(eps):
    def p(y):
        return (min(1.0, y + eps) - max(0.0, y - eps)) / (2 * eps)

    def negplogp(y):
        v = p(y)
        return -v * math.log(v) if v > 0 else 0.0

    lo, hi = -eps, 1 + eps
    breaks = sorted({-eps, eps, 1 - eps, 1 + eps})
    h_y = sum(integrate.quad(negplogp, a, b, epsabs=1e-12)[0] for a, b in zip(breaks[:-1], breaks[1:])
              if lo <= a < b <= hi)
    assert mt.uniform_noise_mi(eps) == pytest.approx(h_y - math.log(2 * eps), abs=1e-8)


def test_uniform_noise_samples_follow_the_model():
    task = mt.get_task("uniform-noise-eps0.1")
    x, y = task.sample(10_000, 0)
    assert 0 <= x.min() and x.max() <= 1 and np.abs(y - x).max() <= 0.1
    assert task.truth == pytest.approx(0.1 - math.log(0.2), abs=1e-12)


# ---------------------------------------------------------------------------------------------- mixtures

def _quadrature_label_mi(mix: mt.ClassMixture) -> float:
    """I(T; C) for a 1-D mixture by quadrature; ReLU adds the point mass at 0."""
    pri, mu, sd = (a.ravel() for a in mix.arrays())
    relu = mix.activation == "relu"

    def integrand(t):
        pc = pri * stats.norm.pdf(t, mu, sd)
        p = pc.sum()
        return float((pc[pc > 0] * np.log(pc[pc > 0] / (pri[pc > 0] * p))).sum())

    lo = 0.0 if relu else float((mu - 12 * sd).min())
    hi = float((mu + 12 * sd).max())
    value = integrate.quad(integrand, lo, hi, epsabs=1e-10, limit=200)[0]
    if relu:
        p0 = pri * stats.norm.cdf(-mu / sd)
        value += float((p0 * np.log(p0 / (pri * p0.sum()))).sum())
    return value


def test_mixture_mc_truth_matches_quadrature_in_1d():
    task = mt.get_task("mixture-c3-d1")
    mix = task.truth_fn.args[0]
    exact = _quadrature_label_mi(mix)
    assert abs(task.truth - exact) < 4 * task.truth_se + 1e-4, (task.truth, exact, task.truth_se)


def test_relu_mc_truth_matches_quadrature_with_point_mass():
    mix = mt.ClassMixture((0.2, 0.5, 0.3), ((-1.0,), (0.5,), (1.5,)), ((1.0,), (0.7,), (1.2,)), "relu")
    value, se = mt.mixture_label_mi_mc(mix, n_mc=300_000)
    exact = _quadrature_label_mi(mix)
    assert abs(value - exact) < 4 * se + 1e-4, (value, exact, se)
    plain = _quadrature_label_mi(mt.ClassMixture(mix.priors, mix.means, mix.stds, None))
    assert exact < plain  # ReLU discards information (data processing inequality)


@pytest.mark.parametrize("d", [2, 10])
def test_activation_tasks_relu_loses_information_and_tanh_keeps_it(d):
    tanh, relu = mt.get_task(f"act-tanh-c10-d{d}"), mt.get_task(f"act-relu-c10-d{d}")
    assert relu.truth < tanh.truth < math.log(10)
    # the premise behind the exact posterior: given the class, W g has independent coordinates
    t, c = tanh.sample(40_000, 0)
    h = np.arctanh(t[c == 0])
    cov = np.cov(h, rowvar=False)
    np.testing.assert_allclose(np.diag(cov), np.linspace(0.5, 1.5, d) ** 2, rtol=0.1)
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 0.06
    # ReLU zero fractions per class and unit follow Phi(-m / s) of the mixture used for the truth
    tr, cr = relu.sample(40_000, 0)
    mix = relu.truth_fn.args[0]
    _, means, stds = mix.arrays()
    np.testing.assert_allclose((tr[cr == 3] == 0).mean(axis=0), stats.norm.cdf(-means[3] / stds[3]), atol=0.03)


# ---------------------------------------------------------------------------------------------- conditional MI

@pytest.mark.parametrize("name,k,rho", [("cmi-gauss-dx1-dy1-dz1", 1, 0.6), ("cmi-gauss-dx2-dy2-dz2", 2, 0.6),
                                        ("cmi-gauss-indep-dx1-dy1-dz2", 1, 0.0)])
def test_gaussian_cmi_truth(name, k, rho):
    task = mt.get_task(name)
    assert task.truth == pytest.approx(-k / 2 * math.log(1 - rho ** 2), abs=1e-12)
    x, y, z = task.sample(200_000, 0)
    cov = np.cov(np.hstack([x, y, z]), rowvar=False)
    assert mt.gaussian_cmi_from_cov(cov, task.dim_x, task.dim_y) == pytest.approx(task.truth, abs=0.01)
    if rho == 0:
        assert plugin_gaussian_mi(x, y) > 0.05  # dependent through Z, independent given Z


# --- the "Beyond normal" standard list ----------------------------------------------------------------------

def test_beyond_normal_set_has_the_papers_40_tasks_and_closed_form_truths():
    bn = mt.select_tasks(["beyond-normal"])
    assert len(bn) == 40 and len({t.name for t in bn}) == 40
    by = {t.name: t for t in bn}
    binormal = -0.5 * math.log(1 - 0.75 ** 2)
    for name in ("bn-1v1-normal-0.75", "bn-1v1-uniform-0.75", "bn-1v1-bimodal-0.75", "bn-1v1-wiggly-0.75",
                 "bn-1v1-halfcube-0.75", "bn-swissroll-2x1"):
        assert by[name].truth == pytest.approx(binormal, abs=1e-12), name
    for d in (2, 3, 5, 25, 50):  # equicorrelated 0.5: 0.5 log((d + 1)^2 / (2d + 1))
        assert by[f"bn-multinormal-dense-{d}-{d}-0.5"].truth == pytest.approx(0.5 * math.log((d + 1) ** 2 / (2 * d + 1)))
    two_pair = -math.log(1 - 0.8 ** 2)  # two independent pairs at rho 0.8
    assert all(t.truth == pytest.approx(two_pair) for t in bn if "2pair" in t.name)
    assert by["bn-1v1-additive-0.1"].truth == pytest.approx(0.1 - math.log(0.2))
    assert by["bn-1v1-additive-0.75"].truth == pytest.approx(1 / 3)
    assert by["bn-swissroll-2x1"].dim_x == 2 and by["bn-multinormal-dense-50-50-0.5"].dim == 100
    # the values that paper lists (two decimals)
    for name, value in (("bn-1v1-normal-0.75", 0.41), ("bn-student-identity-1-1-1", 0.22),
                        ("bn-multinormal-2pair-5-5", 1.02), ("bn-student-identity-5-5-3", 0.30)):
        assert round(by[name].truth, 2) == value, name


@pytest.mark.parametrize("d, nu", [(1, 1), (2, 2), (3, 3)])
def test_student_identity_truth_against_monte_carlo(d, nu):
    """E[log p(x, y) - log p(x) - log p(y)] over the task's own samples, with scipy's multivariate t."""
    from scipy.stats import multivariate_t

    task = mt.get_task(f"bn-student-identity-{d}-{d}-{nu}")
    x, y = task.sample(200_000, seed=1)
    joint = multivariate_t(loc=np.zeros(2 * d), shape=np.eye(2 * d), df=nu)
    marg = multivariate_t(loc=np.zeros(d), shape=np.eye(d), df=nu)
    ratio = joint.logpdf(np.hstack([x, y])) - marg.logpdf(x) - marg.logpdf(y)
    se = ratio.std() / math.sqrt(len(ratio))
    assert abs(ratio.mean() - task.truth) < 4 * se + 1e-3, (ratio.mean(), task.truth, se)


def test_beyond_normal_maps_are_invertible():
    u = np.linspace(1e-6, 1 - 1e-6, 2001)
    q = mt._bimodal_quantile(u)
    assert np.all(np.diff(q) > 0)  # strictly increasing: the bimodal marginal keeps the MI
    cdf = sum(w * special.ndtr((q - m) / s) for w, m, s in mt.BIMODAL_COMPONENTS)
    np.testing.assert_allclose(cdf, u, atol=1e-9)
    roll = mt.swissroll(u[:, None])
    radius = np.linalg.norm(roll, axis=1)
    assert np.all(np.diff(radius) > 0)  # the radius grows along the roll: one point per u
    x, y = mt.get_task("bn-1v1-bimodal-0.75").sample(4000, 0)
    assert np.histogram(x, bins=[-3, -1.5, -0.5, 0.5, 1.5, 3])[0][2] < np.histogram(x, bins=[-3, -1.5, -0.5, 0.5, 1.5, 3])[0][1]
