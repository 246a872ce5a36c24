"""Closed-form mutual information of a jointly Gaussian model fitted by sample covariances.

For jointly Gaussian X (d_x) and Y (d_y) with covariance blocks S_x, S_y and joint covariance S_xy,

    I(X; Y) = 1/2 ( log det S_x + log det S_y - log det S_xy )                      (nats)

and, conditioning on Z,

    I(X; Y | Z) = 1/2 log( det S_xz det S_yz / (det S_z det S_xyz) )

(Cover & Thomas, Elements of Information Theory, Thm. 8.4.1 with the chain rule). Each S is the sample
covariance (divisor n - 1) of the listed variables stacked column-wise. For a pair of scalars with
correlation rho this is -1/2 log(1 - rho^2). For non-Gaussian data it is the MI of the Gaussian with the
same second moments, a lower bound on the true MI only when the marginals are Gaussian.

The determinants are computed on the correlation matrix (columns standardised), which leaves every log
ratio unchanged and keeps the eigenvalue test for singularity scale-free: if the smallest eigenvalue of
the joint correlation matrix is below ``Params.singular_tol`` the covariance is singular (collinear columns,
or n <= total dimension) and the estimate is refused with an error instead of returning +inf.
Class labels are not supported (an error); use ``binning``, ``ksg`` or ``kde`` for them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch

from .base import EstimatorInputError, MIEstimator, is_labels


class GaussianEstimator(MIEstimator):
    name: ClassVar[str] = "gaussian"
    supports_conditional: ClassVar[bool] = True
    min_samples: ClassVar[int] = 3

    @dataclass(frozen=True)
    class Params:
        singular_tol: float = 1e-10  # smallest allowed eigenvalue of the joint correlation matrix
        device: str = "auto"

    def _estimate(self, x: torch.Tensor, y: torch.Tensor, z: Optional[torch.Tensor]) -> float:
        parts = {"x": x, "y": y} if z is None else {"x": x, "y": y, "z": z}
        for nm, t in parts.items():
            if is_labels(t):
                raise EstimatorInputError(
                    f"{nm}: the Gaussian estimator needs continuous (n, d) data, got class labels; "
                    "use 'binning', 'ksg' or 'kde' for labels")
        n = x.shape[0]
        joint = torch.cat(list(parts.values()), dim=1)
        d = joint.shape[1]
        if n <= d:
            raise EstimatorInputError(
                f"gaussian: {n} samples cannot give a non-singular covariance of {d} variables (need n > {d})")
        centred = joint - joint.mean(0, keepdim=True)
        std = centred.pow(2).sum(0).div(n - 1).sqrt()
        start = 0
        for nm, t in parts.items():
            const = (std[start:start + t.shape[1]] == 0).nonzero().flatten()
            if const.numel():
                raise EstimatorInputError(f"{nm} column {int(const[0])} is constant; its variance is 0")
            start += t.shape[1]
        corr = (centred / std).T @ (centred / std) / (n - 1)
        corr = 0.5 * (corr + corr.T)
        eig_min = float(torch.linalg.eigvalsh(corr)[0])
        if eig_min < self.params.singular_tol:
            raise EstimatorInputError(
                f"gaussian: the joint covariance of x, y{', z' if z is not None else ''} is singular "
                f"(smallest correlation eigenvalue {eig_min:.3g} < {self.params.singular_tol:g}); "
                "some columns are (nearly) linear combinations of others")

        sx, sy = slice(0, x.shape[1]), slice(x.shape[1], x.shape[1] + y.shape[1])
        sz = slice(x.shape[1] + y.shape[1], d)

        def logdet(*blocks: slice) -> torch.Tensor:
            idx = torch.cat([torch.arange(b.start, b.stop) for b in blocks]).to(corr.device)
            if idx.numel() == 0:
                return torch.zeros((), dtype=corr.dtype, device=corr.device)
            return torch.linalg.cholesky(corr[idx][:, idx]).diagonal().log().sum() * 2

        # I(X;Y|Z) = 1/2 [logdet S_xz + logdet S_yz - logdet S_z - logdet S_xyz]; z empty gives I(X;Y).
        value = 0.5 * (logdet(sx, sz) + logdet(sy, sz) - logdet(sz) - logdet(sx, sy, sz))
        return float(value)
