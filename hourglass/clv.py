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

# The inputs per customer, in weeks, as the dbt models project them from int_customer_orders in DuckDB: a
# transaction is a purchase day (int_customer_orders.yml).
INPUTS = (
    "repeat_purchase_days as x, weeks_first_to_last_purchase as t_x, weeks_since_first_purchase as age, "
    "coalesce(average_repeat_purchase_day_value, 0) as mean_value"
)


def input_arrays(table) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, t_x, T and the mean repeat order value of an Arrow table with the INPUTS columns."""
    return tuple(table[name].to_numpy().astype(float) for name in ("x", "t_x", "age", "mean_value"))


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


@dataclass(frozen=True)
class _Column:
    """A column with its distinct values: a function of it is computed once per value, then spread to the rows.

    The special functions cost most of a fit, and repeat purchases take a few dozen values, the weeks since a
    first or last purchase a few thousand, against 310k rows at 1M customers.
    """

    rows: np.ndarray
    values: np.ndarray
    index: np.ndarray

    @classmethod
    def of(cls, column: np.ndarray) -> "_Column":
        values, index = np.unique(column, return_inverse=True)
        return cls(column, values, index)

    def map(self, function) -> np.ndarray:
        return function(self.values)[self.index]


def _bgnbd_data(x, t_x, T, weight) -> tuple:
    return _Column.of(x), _Column.of(t_x), _Column.of(T), weight


def _bgnbd_negative_ll(log_params: np.ndarray, x: _Column, t_x: _Column, T: _Column, weight) -> tuple:
    """Negative log-likelihood and its gradient in the log-parameters (FHL 2005, eq. 6)."""
    r, alpha, a, b = np.exp(log_params)
    repeat = x.rows > 0
    log_alpha_T, log_alpha_t_x = T.map(lambda v: np.log(alpha + v)), t_x.map(lambda v: np.log(alpha + v))
    a1 = x.map(lambda v: gammaln(r + v)) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + x.map(lambda v: gammaln(b + v) - gammaln(a + b + v)) - gammaln(b)
    a3 = -(r + x.rows) * log_alpha_T
    b_x = np.where(x.values > 0, b + x.values - 1, 1.0)  # x = 0 has no a4 term; keeps the logs finite there
    log_b_x, b_x = np.log(b_x)[x.index], b_x[x.index]
    a4 = np.where(repeat, np.log(a) - log_b_x - (r + x.rows) * log_alpha_t_x, -np.inf)
    both = np.logaddexp(a3, a4)
    w3, w4 = np.exp(a3 - both), np.exp(a4 - both)  # each term's share of the sum; w4 = 0 where x = 0
    d_r = x.map(lambda v: digamma(r + v)) - digamma(r) + np.log(alpha) - w3 * log_alpha_T - w4 * log_alpha_t_x
    d_alpha = r / alpha - (r + x.rows) * (
        w3 * T.map(lambda v: 1 / (alpha + v)) + w4 * t_x.map(lambda v: 1 / (alpha + v))
    )
    d_ab = digamma(a + b) - x.map(lambda v: digamma(a + b + v))  # shared by the a and b derivatives
    d_a = d_ab + w4 / a
    d_b = d_ab + x.map(lambda v: digamma(b + v)) - digamma(b) - w4 / b_x
    gradient = np.array([weight @ d for d in (d_r, d_alpha, d_a, d_b)]) * (r, alpha, a, b)
    return -(weight @ (a1 + a2 + both)), -gradient


# Log-parameters bounded to e^±15: unbounded, a line search can step to exp() overflow and a NaN loss (it did
# on a 106-customer book), and along a flat ridge the bound is where the fit stops.
BOUNDS = (-15.0, 15.0)


STALLED_STEPS = 50


class _Stalled:
    """A Nelder-Mead callback that ends the search once STALLED_STEPS steps in a row did not lower the loss."""

    def __init__(self, tolerance: float) -> None:
        self.tolerance, self.best, self.steps = tolerance, np.inf, 0

    def __call__(self, intermediate_result) -> None:
        if intermediate_result.fun < self.best - self.tolerance:
            self.best, self.steps = intermediate_result.fun, 0
        else:
            self.steps += 1
        if self.steps >= STALLED_STEPS:
            raise StopIteration


def _fit(loss, n_params: int, args: tuple, name: str) -> np.ndarray:
    """Maximum likelihood on log-parameters: L-BFGS-B, then a gradient-free polish when it stops early.

    The losses return their analytic gradient (one evaluation per step instead of n + 1 for a numerical
    one). Near the optimum, or on a flat ridge, L-BFGS-B's line search can still end ABNORMAL although the
    loss no longer improves. Nelder-Mead then goes on from where it stopped. On a ridge the simplex keeps
    sliding along it without lowering the loss, so it stops once STALLED_STEPS steps in a row lowered the best
    loss by less than its tolerance (on a ridge it would otherwise go on for thousands of evaluations that
    gain nothing), and after 1,000 steps in any case.
    A fit is an error only when its loss is not finite.
    """
    bounds = [BOUNDS] * n_params
    result = minimize(
        loss, x0=np.zeros(n_params), args=args, method="L-BFGS-B", bounds=bounds, jac=True,
        options={"maxiter": 10_000, "ftol": 1e-12, "gtol": 1e-8},
    )  # fmt: skip
    if not result.success:
        # fatol relative to the loss: an absolute one falls below float resolution once the loss is large (millions
        # of customers), and the simplex would never meet it
        fatol = 1e-12 * max(1.0, abs(result.fun))
        polished = minimize(
            lambda params, *a: loss(params, *a)[0], x0=result.x, args=args, method="Nelder-Mead", bounds=bounds,
            options={"maxiter": 1_000, "xatol": 1e-6, "fatol": fatol}, callback=_Stalled(fatol),
        )  # fmt: skip
        if polished.fun <= result.fun:
            result = polished
    if not np.isfinite(result.fun):
        raise RuntimeError(f"{name} did not converge: {result.message}")
    return np.exp(result.x)


def fit_bgnbd(x, t_x, T) -> BgNbd:
    columns, weight = _grouped(*(np.asarray(v, dtype=float) for v in (x, t_x, T)))
    r, alpha, a, b = _fit(_bgnbd_negative_ll, 4, _bgnbd_data(*columns, weight), "BG/NBD fit")
    return BgNbd(r=r, alpha=alpha, a=a, b=b)


def _gamma_gamma_data(x, m, weight) -> tuple:
    return _Column.of(x), m, np.log(m), np.log(x), weight


def _gamma_gamma_negative_ll(log_params: np.ndarray, x: _Column, m, log_m, log_x, weight) -> tuple:
    p, q, gamma = np.exp(log_params)
    px, total = p * x.rows, gamma + x.rows * m
    spent = np.log(total)
    ll = (
        x.map(lambda v: gammaln(p * v + q) - gammaln(p * v)) - gammaln(q) + q * np.log(gamma)
        + (px - 1) * log_m + px * log_x - (px + q) * spent
    )  # fmt: skip
    digamma_px_q = x.map(lambda v: digamma(p * v + q))
    d_p = x.rows * (digamma_px_q - x.map(lambda v: digamma(p * v)) + log_m + log_x - spent)
    d_q = digamma_px_q - digamma(q) + np.log(gamma) - spent
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
    p, q, gamma = _fit(_gamma_gamma_negative_ll, 3, _gamma_gamma_data(*columns, weight), "Gamma-Gamma fit")
    return GammaGamma(p=p, q=q, gamma=gamma)
