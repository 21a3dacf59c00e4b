"""fastem.plot: each picture renders (Agg) to a non-trivial PNG, and what it draws is
the model's: the mixture curve is exp(score_samples), the ellipses are the covariances'
axes, the lower-bound line is lower_bounds_, the criterion line is bic()."""

import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _builders import RandomData
from fastem import GaussianMixture, plot, select
from fastem._engine import selection as _selection

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_non_trivial_png(ax, path, min_colours=5):
    """Save the axes' figure and check the image is a real picture, not a blank."""
    ax.figure.savefig(path, dpi=60)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    pixels = image.reshape(-1, image.shape[2])
    colours = np.unique(np.round(pixels * 255).astype(np.uint8), axis=0)
    assert len(colours) >= min_colours, len(colours)
    # Not almost all background: some tenth of the pixels are not white.
    assert np.mean(np.any(pixels[:, :3] < 0.95, axis=1)) > 0.02


@pytest.fixture(scope="module")
def data_1d():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(0, 1, 300), rng.normal(5, 0.5, 200)])[:, None]


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_density_1d_draws_the_mixture_density(data_1d, covariance_type, tmp_path):
    model = GaussianMixture(2, covariance_type=covariance_type, random_state=0)
    model.fit(data_1d)

    ax = plot.plot_density_1d(model, data_1d)

    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"0", "1", "mixture"}
    x, y = lines["mixture"].get_data()
    assert_allclose(y, np.exp(model.score_samples(x[:, None])), rtol=1e-10)
    assert_allclose(y, lines["0"].get_ydata() + lines["1"].get_ydata(), rtol=1e-12)
    assert len(ax.patches) > 5  # the histogram's bars
    assert_non_trivial_png(ax, tmp_path / "density.png")


def test_density_1d_of_one_feature_of_many(tmp_path):
    X = RandomData(seed=1, n_features=3).X["diag"]
    model = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)

    ax = plot.plot_density_1d(model, X, feature=2)

    x, y = ax.get_lines()[-1].get_data()
    marginal = GaussianMixture(3, covariance_type="diag").fit(X[:, 2:])
    marginal.weights_, marginal.means_ = model.weights_, model.means_[:, 2:]
    marginal.covariances_ = model.covariances_[:, 2:]
    marginal.precisions_cholesky_ = 1 / np.sqrt(marginal.covariances_)
    assert_allclose(y, np.exp(marginal.score_samples(x[:, None])), rtol=1e-10)
    assert ax.get_xlabel() == "feature 2"


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_ellipses_are_the_covariance_axes(covariance_type, tmp_path):
    X = RandomData(seed=2).X[covariance_type]
    model = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)

    ax = plot.plot_components_2d(model, X, n_std=(1.0, 2.0))

    ellipses = [p for p in ax.patches if isinstance(p, matplotlib.patches.Ellipse)]
    assert len(ellipses) == 6
    for k in range(3):
        covariance = plot._dense_covariances(model)[k]
        for ellipse, radius in zip(ellipses[2 * k : 2 * k + 2], (1.0, 2.0)):
            assert_allclose(ellipse.center, model.means_[k])
            # The ellipse's matrix: its axes' directions with squared half-widths.
            angle = np.radians(ellipse.angle)
            rotation = np.array(
                [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
            )
            half = np.array([ellipse.width, ellipse.height]) / 2
            matrix = rotation @ np.diag(half**2) @ rotation.T
            assert_allclose(matrix, radius**2 * covariance, rtol=1e-8, atol=1e-12)
    assert_non_trivial_png(ax, tmp_path / "ellipses.png")


def test_contours_and_a_chosen_pair_of_features(tmp_path):
    X = RandomData(seed=3, n_features=4).X["full"]
    model = GaussianMixture(3, random_state=0).fit(X)

    ax = plot.plot_components_2d(model, X, features=(3, 1), kind="contours")

    assert len(ax.collections) >= 2  # the points and the contour lines
    assert ax.get_xlabel() == "feature 3" and ax.get_ylabel() == "feature 1"
    means = ax.collections[-1].get_offsets()
    assert_array_equal(means, model.means_[:, [3, 1]])
    assert_non_trivial_png(ax, tmp_path / "contours.png")


def test_components_2d_without_data_on_given_axes(tmp_path):
    model = GaussianMixture(2, random_state=0).fit(RandomData(seed=4).X["full"])
    figure, axes = plt.subplots(1, 2)
    assert plot.plot_components_2d(model, ax=axes[1]) is axes[1]
    assert_non_trivial_png(axes[1], tmp_path / "no-data.png")


def test_lower_bound_per_iteration(tmp_path):
    X = RandomData(seed=5).X["full"]
    model = GaussianMixture(3, tol=1e-8, random_state=0).fit(X)

    ax = plot.plot_lower_bound(model)

    x, y = ax.get_lines()[0].get_data()
    assert_array_equal(x, np.arange(1, model.n_iter_ + 1))
    assert_array_equal(y, model.lower_bounds_)
    assert "converged" in ax.get_title()
    assert_non_trivial_png(ax, tmp_path / "lower-bound.png", min_colours=3)


def test_criterion_from_models_and_from_a_table(tmp_path):
    pd = pytest.importorskip("pandas")
    X = RandomData(seed=6).X["full"]
    models = [
        GaussianMixture(k, covariance_type=t, random_state=0).fit(X)
        for t in ("full", "diag")
        for k in (1, 2, 3, 4)
    ]

    ax = plot.plot_criterion(models, X, criterion=("bic", "aic"))

    lines = {line.get_label(): line for line in ax.get_lines()}
    assert_array_equal(lines["BIC full"].get_xdata(), [1, 2, 3, 4])
    assert_allclose(lines["BIC diag"].get_ydata(), [m.bic(X) for m in models[4:]])
    assert_allclose(lines["AIC full"].get_ydata(), [m.aic(X) for m in models[:4]])
    best = min(models, key=lambda m: m.bic(X))
    assert lines["best BIC"].get_xdata()[0] == best.n_components
    assert_non_trivial_png(ax, tmp_path / "criterion.png")

    table = {
        "n_components": [3, 1, 2],
        "covariance_type": ["full"] * 3,
        "bic": [5.0, 9.0, 4.0],
    }
    for given in (table, pd.DataFrame(table)):
        ax = plot.plot_criterion(given)
        line = ax.get_lines()[0]
        assert_array_equal(line.get_xdata(), [1, 2, 3])  # sorted
        assert_array_equal(line.get_ydata(), [9.0, 4.0, 5.0])
        assert ax.get_lines()[-1].get_xdata()[0] == 2


@pytest.mark.parametrize("with_pandas", [True, False])
def test_criterion_of_a_selection_result(with_pandas, monkeypatch, tmp_path):
    if with_pandas:
        pytest.importorskip("pandas")
    else:  # select's table is then a structured array
        monkeypatch.setattr(_selection, "_pandas_or_none", lambda: None)
    X = RandomData(seed=6).X["full"]
    result = select(X, n_components=[1, 2, 3], covariance_types=("full", "diag"),
                    priors=(None, "default"), random_state=0)  # fmt: skip

    ax = plot.plot_criterion(result, X)

    lines = {line.get_label(): line for line in ax.get_lines()}
    table = result.table
    for covariance_type in ("full", "diag"):
        for prior, label in [(None, ""), ("default", ", prior default")]:
            rows = [
                i
                for i, model in enumerate(result.estimators_)
                if (model.covariance_type, model.prior) == (covariance_type, prior)
            ]
            line = lines[covariance_type + label]
            assert_array_equal(line.get_xdata(), [1, 2, 3])
            assert_array_equal(line.get_ydata(), np.asarray(table["bic"])[rows])
    star = lines["best BIC"]
    assert star.get_xdata()[0] == result.best_params_["n_components"]
    assert star.get_ydata()[0] == np.asarray(table["bic"])[result.best_index_]
    assert_non_trivial_png(ax, tmp_path / "selection.png")


def test_the_best_is_starred_among_the_models_that_were_fitted():
    table = {"n_components": [1, 2, 3], "bic": [5.0, np.nan, 4.0]}
    ax = plot.plot_criterion(table)
    assert ax.get_lines()[-1].get_xdata()[0] == 3


def test_plots_of_a_dataframe_fitted_model_keep_its_feature_names():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(RandomData(seed=9).X["full"], columns=["width", "height"])
    model = GaussianMixture(3, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "X does not have valid feature names"
        ax = plot.plot_components_2d(model, X)
        plot.plot_density_1d(model, X, feature=1)
        plot.plot_criterion([model], X)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("width", "height")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, X: plot.plot_components_2d(m, X, kind="pie"), "kind must be"),
        (lambda m, X: plot.plot_components_2d(m, X, features=(0, 0)), "distinct"),
        (lambda m, X: plot.plot_components_2d(m, X, features=(0, 5)), "indices"),
        (lambda m, X: plot.plot_density_1d(m, X[:, :1]), r"shape \(n_samples, 2\)"),
        (lambda m, X: plot.plot_criterion([m]), "X is needed"),
        (lambda m, X: plot.plot_criterion([m], X, criterion="icl"), "'bic', 'aic'"),
        (lambda m, X: plot.plot_criterion({"n_components": [1]}), "no column"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    X = RandomData(seed=7).X["full"]
    model = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match=message):
        call(model, X)


def test_unfitted_model_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        plot.plot_lower_bound(GaussianMixture())


def test_without_matplotlib_the_error_says_what_to_install(monkeypatch):
    model = GaussianMixture(2, random_state=0).fit(RandomData(seed=8).X["full"])
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install fastem\[plot\]"):
        plot.plot_lower_bound(model)
