"""Predicted customer lifetime value: BG/NBD for how often, Gamma-Gamma for how much.

Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to the Pareto/NBD model"
and "RFM and CLV: using iso-value curves for customer base analysis". Both are fitted by maximum likelihood
with SciPy on log-parameters (which keeps them positive). Inputs per customer, in one time unit (weeks here):
x = repeat purchases, t_x = time of the last purchase since the first, T = time since the first purchase,
and for spend the average value of the repeat purchases.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, hyp2f1


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float

    def expected_purchases(self, t: float, x, t_x, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: purchases expected in the next t periods (FHL 2005, eq. 10)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        head = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
        alive_odds = np.where(x > 0, a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        return head / (1 + alive_odds)

    def probability_alive(self, x, t_x, T) -> np.ndarray:
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        odds = np.where(x > 0, self.a / (self.b + x - 1) * ((self.alpha + T) / (self.alpha + t_x)) ** (self.r + x), 0.0)
        return 1 / (1 + odds)


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float

    def expected_spend(self, x, mean_value) -> np.ndarray:
        """E[M | x, m̄]: expected value of a future purchase; the population mean for x = 0."""
        x, m = np.asarray(x, dtype=float), np.asarray(mean_value, dtype=float)
        population = self.p * self.gamma / (self.q - 1)
        weighted = (self.gamma + x * m) * self.p / (self.p * x + self.q - 1)
        return np.where(x > 0, weighted, population)


def _grouped(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Identical input rows once, with their count as weight: the likelihood only sees these values.

    Order values and day counts repeat a lot (at 1M customers, 643k buyers have 310k distinct (x, t_x, T)
    and 369k repeat buyers 45k distinct (x, mean value)). Sorted, so the sums are the same whatever the
    input order: one input, one fit.
    """
    order = np.lexsort(columns[::-1])
    ordered = [column[order] for column in columns]
    starts = np.flatnonzero(np.r_[True, np.any([np.diff(column) != 0 for column in ordered], axis=0)])
    counts = np.diff(np.r_[starts, len(order)]).astype(float)
    return [column[starts] for column in ordered], counts


def _bgnbd_negative_ll(log_params: np.ndarray, x, t_x, T, weight) -> tuple[float, np.ndarray]:
    """Negative log-likelihood and its gradient in the log-parameters (FHL 2005, eq. 6)."""
    r, alpha, a, b = np.exp(log_params)
    repeat = x > 0
    log_alpha_T, log_alpha_t_x = np.log(alpha + T), np.log(alpha + t_x)  # each used by loss and gradient
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * log_alpha_T
    b_x = np.where(repeat, b + x - 1, 1.0)  # x = 0 has no a4 term; keeps the logs finite there
    a4 = np.where(repeat, np.log(a) - np.log(b_x) - (r + x) * log_alpha_t_x, -np.inf)
    both = np.logaddexp(a3, a4)
    w3, w4 = np.exp(a3 - both), np.exp(a4 - both)  # each term's share of the sum; w4 = 0 where x = 0
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - w3 * log_alpha_T - w4 * log_alpha_t_x
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    d_ab = digamma(a + b) - digamma(a + b + x)  # shared by the a and b derivatives
    d_a = d_ab + w4 / a
    d_b = d_ab + digamma(b + x) - digamma(b) - w4 / b_x
    gradient = np.array([weight @ d for d in (d_r, d_alpha, d_a, d_b)]) * (r, alpha, a, b)
    return -(weight @ (a1 + a2 + both)), -gradient


# Log-parameters bounded to e^±15: unbounded, a line search can step to exp() overflow and a NaN loss (it did
# on a 106-customer book), and along a flat ridge the bound is where the fit stops.
BOUNDS = (-15.0, 15.0)


def _fit(loss, n_params: int, args: tuple, name: str) -> np.ndarray:
    """Maximum likelihood on log-parameters: L-BFGS-B, then a gradient-free polish when it stops early.

    The losses return their analytic gradient (one evaluation per step instead of n + 1 for a numerical
    one). Near the optimum, or on a flat ridge, L-BFGS-B's line search can still end ABNORMAL although the
    loss no longer improves. Nelder-Mead then goes on from where it stopped. On a ridge
    the simplex keeps sliding along it without lowering the loss: it had its best point within 500 steps on
    the 100k-customer bench data, and 20,000 steps cost 95 s for nothing more, hence the cap of 1,000.
    A fit is an error only when its loss is not finite.
    """
    bounds = [BOUNDS] * n_params
    result = minimize(
        loss, x0=np.zeros(n_params), args=args, method="L-BFGS-B", bounds=bounds, jac=True,
        options={"maxiter": 10_000, "ftol": 1e-12, "gtol": 1e-8},
    )  # fmt: skip
    if not result.success:
        polished = minimize(
            lambda params, *a: loss(params, *a)[0], x0=result.x, args=args, method="Nelder-Mead", bounds=bounds,
            # fatol relative to the loss: an absolute 1e-10 is below float resolution for a loss of 6e6 (3M
            # customers), and the simplex then ran all 1,000 steps (16 s) to gain 3e-14 of the loss
            options={"maxiter": 1_000, "xatol": 1e-6, "fatol": 1e-12 * max(1.0, abs(result.fun))},
        )  # fmt: skip
        if polished.fun <= result.fun:
            result = polished
    if not np.isfinite(result.fun):
        raise RuntimeError(f"{name} did not converge: {result.message}")
    return np.exp(result.x)


def fit_bgnbd(x, t_x, T) -> BgNbd:
    columns, weight = _grouped(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    r, alpha, a, b = _fit(_bgnbd_negative_ll, 4, (*columns, weight), "BG/NBD fit")
    return BgNbd(r=r, alpha=alpha, a=a, b=b)


def _gamma_gamma_negative_ll(log_params: np.ndarray, x, m, weight) -> tuple[float, np.ndarray]:
    p, q, gamma = np.exp(log_params)
    px, total = p * x, gamma + x * m
    spent = np.log(total)
    ll = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
        + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * spent
    )  # fmt: skip
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - spent)
    d_q = digamma(px + q) - digamma(q) + np.log(gamma) - spent
    d_gamma = q / gamma - (px + q) / total
    gradient = np.array([weight @ d for d in (d_p, d_q, d_gamma)]) * (p, q, gamma)
    return -(weight @ ll), -gradient


def fit_gamma_gamma(x, mean_value) -> GammaGamma:
    """Fitted on customers with repeat purchases only, as the model assumes."""
    x, m = np.asarray(x, dtype=float), np.asarray(mean_value, dtype=float)
    keep = (x > 0) & (m > 0)
    # When spend barely varies per customer, q runs off towards infinity (all spend shrinks to the mean) and
    # the likelihood is flat along that direction: the fit stops at the bound.
    columns, weight = _grouped(x[keep], m[keep])
    p, q, gamma = _fit(_gamma_gamma_negative_ll, 3, (*columns, weight), "Gamma-Gamma fit")
    return GammaGamma(p=p, q=q, gamma=gamma)
