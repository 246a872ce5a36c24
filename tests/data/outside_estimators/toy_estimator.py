"""Outside estimators for tests/test_outside_estimators.py: a Gaussian-copula-free correlation estimator
(exact for jointly Gaussian 1-D pairs), a degraded copy of it, and a command-line version."""
import sys

import numpy as np


class CorrelationMI:
    """-0.5 log(1 - rho^2) of the first columns: the MI of a Gaussian pair (nats)."""

    supports_conditional = False

    def __init__(self, shrink: float = 1.0):
        self.shrink = shrink  # < 1: a deliberately degraded estimator (biased low)

    def estimate(self, x, y, z=None):
        x, y = np.asarray(x, float).reshape(len(x), -1)[:, 0], np.asarray(y, float).reshape(len(y), -1)[:, 0]
        rho = np.corrcoef(x, y)[0, 1]
        return self.shrink * -0.5 * np.log(1 - rho ** 2)


def make_broken(**_):
    raise RuntimeError("this estimator cannot be built")


if __name__ == "__main__":  # python toy_estimator.py SAMPLES DIM_X DIM_Y
    path, dim_x = sys.argv[1], int(sys.argv[2])
    data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    print(CorrelationMI().estimate(data[:, :dim_x], data[:, dim_x:]))
