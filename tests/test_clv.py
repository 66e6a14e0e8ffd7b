"""CLV models against the published fits on the CDNOW sample."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hourglass import clv

CDNOW = pd.read_csv(Path(__file__).parent / "fixtures" / "cdnow_sample_calibration.csv")


def within(value: float, published: float, share: float = 0.02) -> bool:
    return abs(value - published) <= share * published


def test_bgnbd_matches_the_published_cdnow_fit():
    model = clv.fit_bgnbd(CDNOW["x"], CDNOW["t_x"], CDNOW["T"])
    for name, published in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert within(getattr(model, name), published), (name, getattr(model, name))


def test_bgnbd_predictions_behave():
    model = clv.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
    # A customer with 2 repeat purchases, the last in week 30.43 of 38.86 (FHL 2005 worked example).
    assert model.expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=0.01)
    # More recent activity means more expected purchases and a higher chance of being alive.
    recent, stale = model.expected_purchases(52, [3, 3], [38.0, 5.0], [38.86, 38.86])
    assert recent > stale
    assert model.probability_alive(0, 0, 38.86) == 1.0  # no repeat purchase: not yet seen to drop out
    assert model.probability_alive(3, 5.0, 38.86) < model.probability_alive(3, 38.0, 38.86) < 1.0


def test_gamma_gamma_matches_the_published_fit_and_shrinks_to_the_mean():
    model = clv.fit_gamma_gamma(CDNOW["x"], CDNOW["zbar"])
    for name, published in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert within(getattr(model, name), published), (name, getattr(model, name))
    population = model.p * model.gamma / (model.q - 1)
    one, many = model.expected_spend([1, 20], [100.0, 100.0])
    assert population < one < many < 100.0  # more purchases: closer to the customer's own mean
    assert model.expected_spend(0, 0.0) == pytest.approx(population)
    assert np.isfinite(model.expected_spend(CDNOW["x"], CDNOW["zbar"])).all()


def _simulate_bgnbd(rng, lam: np.ndarray, p: float, T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Purchases as BG/NBD assumes them: Poisson at rate lam while alive, dropping out after a purchase with p."""
    x, t_x = np.zeros(len(T)), np.zeros(len(T))
    for i, rate in enumerate(lam):
        t = rng.exponential(1 / rate)
        while t <= T[i]:
            x[i], t_x[i] = x[i] + 1, t
            if rng.random() < p:
                break
            t += rng.exponential(1 / rate)
    return x, t_x


def test_bgnbd_fits_customers_who_all_drop_out_alike():
    """Everyone with the same dropout chance: a and b run off along a ridge (a / (a + b) stays put) and
    L-BFGS-B ends ABNORMAL on this sample; the fit must still give the right rates and dropout chance rather
    than fail the nightly run (it did, on the demo data)."""
    rng = np.random.default_rng(0)
    T = rng.uniform(20, 200, 1500)
    x, t_x = _simulate_bgnbd(rng, rng.gamma(0.4, 1 / 9.0, 1500), 0.16, T)
    model = clv.fit_bgnbd(x, t_x, T)
    assert within(model.r, 0.4, 0.15) and within(model.alpha, 9.0, 0.15), model
    assert within(model.a / (model.a + model.b), 0.16, 0.15), model
    truth = clv.BgNbd(r=0.4, alpha=9.0, a=16_000.0, b=84_000.0)
    expected, true_expected = model.expected_purchases(52, x, t_x, T), truth.expected_purchases(52, x, t_x, T)
    assert abs(expected.sum() / true_expected.sum() - 1) < 0.1


def test_bgnbd_fits_a_small_book_without_overflowing():
    """106 customers from a generated data set: unbounded, L-BFGS-B stepped into exp() overflow and a NaN loss,
    which failed the whole dbt build."""
    book = pd.read_csv(Path(__file__).parent / "fixtures" / "clv_small_book.csv")
    model = clv.fit_bgnbd(book["x"], book["t_x"], book["T"])
    alive = model.probability_alive(book["x"], book["t_x"], book["T"])
    assert np.isfinite([model.r, model.alpha, model.a, model.b]).all()
    assert ((alive > 0) & (alive <= 1)).all()
    assert 0 < model.expected_purchases(52, book["x"], book["t_x"], book["T"]).sum() < 10 * book["x"].sum()


@pytest.mark.parametrize("log_params", [np.zeros(4), np.array([0.3, -1.0, 2.0, 1.5]), np.array([-2.0, 3.0, -0.5, 4.0])])
def test_analytic_gradients_match_the_numerical_ones(log_params):
    """The fits step on the losses' own gradients; a wrong one would stop them short of the optimum."""
    from scipy.optimize import approx_fprime

    rng = np.random.default_rng(7)
    x = rng.integers(0, 10, 300).astype(float)
    T = rng.uniform(1, 60, 300)
    t_x = np.where(x > 0, T * rng.uniform(0, 1, 300), 0.0)
    weight = rng.integers(1, 4, 300).astype(float)
    spend = rng.uniform(5, 100, 300)
    for loss, params, args in (
        (clv._bgnbd_negative_ll, log_params, clv._bgnbd_data(x, t_x, T, weight)),
        (clv._gamma_gamma_negative_ll, log_params[:3], clv._gamma_gamma_data(np.maximum(x, 1), spend, weight)),
    ):
        analytic = loss(params, *args)[1]
        numerical = approx_fprime(params, lambda p, f=loss, a=args: f(p, *a)[0], 1e-6)
        assert np.allclose(analytic, numerical, rtol=1e-4, atol=1e-4 * np.abs(numerical).max()), loss.__name__


def test_the_fit_does_not_depend_on_row_order():
    order = np.random.default_rng(3).permutation(len(CDNOW))
    shuffled = CDNOW.iloc[order]
    assert clv.fit_bgnbd(CDNOW["x"], CDNOW["t_x"], CDNOW["T"]) == clv.fit_bgnbd(
        shuffled["x"], shuffled["t_x"], shuffled["T"]
    )
    assert clv.fit_gamma_gamma(CDNOW["x"], CDNOW["zbar"]) == clv.fit_gamma_gamma(shuffled["x"], shuffled["zbar"])
