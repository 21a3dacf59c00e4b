"""Pictures of fitted Gaussian mixtures (matplotlib: ``pip install fastem[plot]``).

Each function draws on ``ax`` (a new figure's axes when None) and returns the axes:

- :func:`plot_density_1d`: histogram of the data, each weighted component and the
  mixture density, along one feature;
- :func:`plot_components_2d`: scatter of the data coloured by component, with each
  component's covariance ellipses or the mixture's density contours, on two features;
- :func:`plot_lower_bound`: the lower bound at each EM iteration of the best run;
- :func:`plot_criterion`: BIC or AIC against the number of components, of fitted
  models or of :func:`fastem.select`'s result.

On more features than the picture has, components are drawn as their marginals on
the chosen features (a Gaussian's marginal keeps the sub-vector of its mean and the
sub-matrix of its covariance).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._engine.selection import SelectionResult, grid_label

__all__ = [
    "plot_components_2d",
    "plot_criterion",
    "plot_density_1d",
    "plot_lower_bound",
]


def _new_axes(ax):
    """``ax``, or the axes of a new pyplot figure; ImportError without matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "fastem.plot needs matplotlib: pip install fastem[plot]"
        ) from error
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure().add_subplot()


def _dense_covariances(model):
    """The (K, d, d) covariance matrices of a fitted mixture, float64."""
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    K, d = np.shape(model.means_)
    if model.covariance_type == "full":
        return covariances
    if model.covariance_type == "tied":
        return np.broadcast_to(covariances, (K, d, d))
    if model.covariance_type == "diag":
        return covariances[:, :, np.newaxis] * np.eye(d)
    return covariances[:, np.newaxis, np.newaxis] * np.eye(d)


def _marginals(model, features):
    """Weights, means (K, f) and covariances (K, f, f) on the chosen features."""
    check_is_fitted(model)
    features = list(features)
    d = np.shape(model.means_)[1]
    if any(not 0 <= j < d for j in features) or len(set(features)) != len(features):
        raise ValueError(
            f"features must be distinct indices in [0, {d}), got {features}"
        )
    covariances = _dense_covariances(model)[:, features][:, :, features]
    means = np.asarray(model.means_, dtype=np.float64)[:, features]
    return np.asarray(model.weights_, dtype=np.float64), means, covariances


def _log_component_densities(points, means, covariances):
    """log N(points | mean_k, cov_k) for each point and component: (n, K)."""
    log_densities = np.empty((len(points), len(means)))
    for k, (mean, covariance) in enumerate(zip(means, covariances)):
        factor = np.linalg.cholesky(covariance)
        whitened = np.linalg.solve(factor, (points - mean).T)
        log_densities[:, k] = (
            -0.5 * np.sum(whitened**2, axis=0)
            - np.sum(np.log(np.diag(factor)))
            - 0.5 * len(mean) * np.log(2 * np.pi)
        )
    return log_densities


def _as_2d(X, n_features):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1 and n_features == 1:
        X = X[:, np.newaxis]
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X must have shape (n_samples, {n_features}) like the model's data, "
            f"got {X.shape}"
        )
    return X


def plot_density_1d(model, X=None, *, feature=0, bins="auto", ax=None):
    """Histogram of X with each weighted component and the mixture density.

    Parameters
    ----------
    model : fitted GaussianMixture
        The mixture to draw (its ``weights_``, ``means_``, ``covariances_``).
    X : array-like of shape (n_samples,) or (n_samples, n_features), optional
        Data drawn as a density histogram; without it only the curves are drawn.
    feature : int, default=0
        The feature to draw (the components' marginals on it).
    bins : int or str, default="auto"
        Passed to ``Axes.hist``.
    ax : matplotlib Axes, optional
        Where to draw; None: the axes of a new pyplot figure.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        Without matplotlib (``pip install fastem[plot]``).
    ValueError
        When ``feature`` is not a feature of the model.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> from fastem.plot import plot_density_1d
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(2, 4, 500), rng.normal(9, 2, 500)])[:, None]
    >>> model = GaussianMixture(2, random_state=0).fit(X)
    >>> fig, ax = plt.subplots()
    >>> ax = plot_density_1d(model, X, ax=ax)
    >>> ax.get_ylabel()
    'density'
    """
    weights, means, covariances = _marginals(model, [feature])
    ax = _new_axes(ax)
    sd = np.sqrt(covariances[:, 0, 0])
    low, high = np.min(means[:, 0] - 4 * sd), np.max(means[:, 0] + 4 * sd)
    if X is not None:
        values = _as_2d(X, np.shape(model.means_)[1])[:, feature]
        values = values[np.isfinite(values)]
        ax.hist(values, bins=bins, density=True, color="0.8", label="data")
        low, high = min(low, values.min()), max(high, values.max())
    grid = np.linspace(low, high, 500)
    component_densities = weights * np.exp(
        _log_component_densities(grid[:, np.newaxis], means, covariances)
    )
    for k in range(len(weights)):
        ax.plot(grid, component_densities[:, k], color=f"C{k % 10}", label=f"{k}")
    ax.plot(grid, component_densities.sum(axis=1), color="k", lw=2, label="mixture")
    ax.set_xlabel(_feature_name(model, feature))
    ax.set_ylabel("density")
    ax.legend(title="component", fontsize="small")
    return ax


def plot_components_2d(
    model, X=None, *, features=(0, 1), kind="ellipses", n_std=(1.0, 2.0), ax=None
):
    """Scatter of X coloured by component, with ellipses or density contours.

    Parameters
    ----------
    model : fitted GaussianMixture
        The mixture to draw (its ``weights_``, ``means_``, ``covariances_``).
    X : array-like of shape (n_samples, n_features), optional
        Points drawn in the colour of their most probable component.
    features : pair of int, default=(0, 1)
        The two features on the axes (the components' marginals on them).
    kind : {"ellipses", "contours"}, default="ellipses"
        "ellipses": each component's ellipses at ``n_std`` standard deviations;
        "contours": contours of the mixture's log-density.
    n_std : sequence of float, default=(1.0, 2.0)
        Radii of the ellipses, in standard deviations.
    ax : matplotlib Axes, optional
        Where to draw; None: the axes of a new pyplot figure.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        Without matplotlib (``pip install fastem[plot]``).
    ValueError
        For a ``kind`` other than "ellipses" or "contours", or ``features`` that
        are not two distinct features of the model.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> from fastem.plot import plot_components_2d
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (200, 2)), rng.normal(5, 1, (200, 2))])
    >>> model = GaussianMixture(2, random_state=0).fit(X)
    >>> fig, (left, right) = plt.subplots(1, 2)
    >>> left = plot_components_2d(model, X, ax=left)
    >>> right = plot_components_2d(model, X, kind="contours", ax=right)
    """
    if kind not in ("ellipses", "contours"):
        raise ValueError(f"kind must be 'ellipses' or 'contours', got {kind!r}")
    if len(features) != 2:
        raise ValueError(f"features must be two indices, got {features!r}")
    weights, means, covariances = _marginals(model, features)
    ax = _new_axes(ax)
    sd = np.sqrt(np.diagonal(covariances, axis1=1, axis2=2))
    low, high = np.min(means - 3 * sd, axis=0), np.max(means + 3 * sd, axis=0)
    if X is not None:
        points = _as_2d(X, np.shape(model.means_)[1])[:, list(features)]
        labels = model.predict(X)  # X as given: a DataFrame keeps its feature names
        colours = np.array([f"C{k % 10}" for k in range(len(weights))])[labels]
        ax.scatter(points[:, 0], points[:, 1], s=6, c=colours, alpha=0.6, lw=0)
        low = np.minimum(low, np.nanmin(points, axis=0))
        high = np.maximum(high, np.nanmax(points, axis=0))
    if kind == "ellipses":
        _draw_ellipses(ax, means, covariances, n_std)
    else:
        _draw_contours(ax, weights, means, covariances, low, high)
    ax.scatter(means[:, 0], means[:, 1], marker="x", c="k", s=40, label="means")
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel(_feature_name(model, features[0]))
    ax.set_ylabel(_feature_name(model, features[1]))
    return ax


def _draw_ellipses(ax, means, covariances, n_std):
    from matplotlib.patches import Ellipse

    for k, (mean, covariance) in enumerate(zip(means, covariances)):
        variances, axes = np.linalg.eigh(covariance)  # ascending
        angle = np.degrees(np.arctan2(axes[1, 1], axes[0, 1]))
        for radius in n_std:
            width, height = 2 * radius * np.sqrt(variances[::-1])
            ax.add_patch(
                Ellipse(
                    mean,
                    width,
                    height,
                    angle=angle,
                    facecolor=f"C{k % 10}",
                    edgecolor=f"C{k % 10}",
                    alpha=0.25 / radius,
                    lw=1.5,
                )
            )


def _draw_contours(ax, weights, means, covariances, low, high, resolution=200):
    x, y = np.meshgrid(
        np.linspace(low[0], high[0], resolution),
        np.linspace(low[1], high[1], resolution),
    )
    log_components = _log_component_densities(
        np.column_stack([x.ravel(), y.ravel()]), means, covariances
    ) + np.log(weights)
    peak = log_components.max(axis=1, keepdims=True)
    log_density = peak[:, 0] + np.log(np.exp(log_components - peak).sum(axis=1))
    log_density = log_density.reshape(x.shape)
    top = log_density.max()
    # Equally spaced in log-density: each line is e times less dense than the last.
    contours = ax.contour(
        x, y, log_density, levels=np.arange(top - 12, top, 1.0), cmap="viridis"
    )
    ax.clabel(contours, contours.levels[::3], fontsize="x-small", fmt="%.0f")


def plot_lower_bound(model, *, ax=None):
    """The lower bound (mean log-likelihood) at each EM iteration of the best run.

    Parameters
    ----------
    model : fitted GaussianMixture
        A fitted mixture: its ``lower_bounds_`` are drawn.
    ax : matplotlib Axes, optional
        Where to draw; None: the axes of a new pyplot figure.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        Without matplotlib (``pip install fastem[plot]``).
    ValueError
        When the model ran no EM iteration (``max_iter=0``).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> from fastem.plot import plot_lower_bound
    >>> X = np.random.default_rng(0).normal(size=(500, 2))
    >>> model = GaussianMixture(3, random_state=0).fit(X)
    >>> ax = plot_lower_bound(model)
    >>> ax.get_xlabel()
    'EM iteration'
    """
    check_is_fitted(model)
    lower_bounds = np.asarray(model.lower_bounds_, dtype=np.float64)
    if lower_bounds.size == 0:
        raise ValueError("the model ran no EM iteration (max_iter=0): nothing to plot")
    ax = _new_axes(ax)
    iterations = np.arange(1, lower_bounds.size + 1)
    ax.plot(iterations, lower_bounds, marker="o", ms=3)
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("lower bound (mean log-likelihood)")
    status = "converged" if model.converged_ else "did not converge"
    ax.set_title(f"{status} after {lower_bounds.size} iterations")
    return ax


def plot_criterion(models, X=None, *, criterion="bic", ax=None):
    """An information criterion against the number of components.

    One line per covariance type and prior (and per criterion); the best (lowest)
    value of each criterion is starred. Models whose fit failed (NaN) are left out.

    Parameters
    ----------
    models : sequence of fitted GaussianMixture, SelectionResult, or a table
        Fitted models (their criterion is computed on ``X``), the result of
        :func:`fastem.select` (its table), or a table of results: a mapping,
        DataFrame or structured array with the columns ``n_components``, the
        criterion's name and optionally ``covariance_type`` and ``prior``.
    X : array-like of shape (n_samples, n_features)
        Needed with models, ignored with a table or a SelectionResult.
    criterion : {"bic", "aic"} or sequence of them, default="bic"
        The criteria to draw: each a line per covariance type and prior.
    ax : matplotlib Axes, optional
        Where to draw; None: the axes of a new pyplot figure.

    Returns
    -------
    ax : matplotlib Axes
        The axes drawn on.

    Raises
    ------
    ImportError
        Without matplotlib (``pip install fastem[plot]``).
    ValueError
        For a criterion other than "bic" and "aic", or models without ``X``.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> from fastem.plot import plot_criterion
    >>> import fastem
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 1, (200, 2)), rng.normal(5, 1, (200, 2))])
    >>> models = [GaussianMixture(k, random_state=0).fit(X) for k in range(1, 5)]
    >>> ax = plot_criterion(models, X, criterion=("bic", "aic"))
    >>> result = fastem.select(X, n_components=range(1, 5), random_state=0)
    >>> ax = plot_criterion(result)  # every covariance type, one line each
    """
    criteria = [criterion] if isinstance(criterion, str) else list(criterion)
    if not criteria or any(name not in ("bic", "aic") for name in criteria):
        raise ValueError(f"criterion must be 'bic', 'aic' or both, got {criterion!r}")
    table = _criterion_table(models, X, criteria)
    ax = _new_axes(ax)
    styles = {"bic": "-", "aic": "--"}
    lines = list(dict.fromkeys(table["line"]))
    for name in criteria:
        values = table[name]
        best = np.nanargmin(values)
        for t, line in enumerate(lines):
            rows = np.flatnonzero(table["line"] == line)
            rows = rows[np.argsort(table["n_components"][rows])]
            label = name.upper() if line == "" else line
            if len(criteria) > 1 and line != "":
                label = f"{name.upper()} {line}"
            ax.plot(
                table["n_components"][rows],
                values[rows],
                styles[name],
                marker="o",
                color=f"C{t % 10}",
                label=label,
            )
        ax.plot(
            table["n_components"][best],
            values[best],
            marker="*",
            ms=16,
            color="k",
            ls="none",
            label=f"best {name.upper()}",
        )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("n_components")
    ax.set_ylabel(" / ".join(name.upper() for name in criteria) + " (lower is better)")
    ax.legend(fontsize="small")
    return ax


def _line_label(covariance_type, prior):
    """The name of a line of :func:`plot_criterion`: its covariance type, and its
    prior's label (as in :func:`fastem.select`'s table) unless there is none
    (None, or NaN in a table read back from a file)."""
    if prior is None or (isinstance(prior, float) and np.isnan(prior)):
        return covariance_type
    return f"{covariance_type}, prior {prior}"


def _column_names(table):
    """The columns of a mapping, a DataFrame or a structured array; None otherwise."""
    names = getattr(getattr(table, "dtype", None), "names", None)
    if names is None and hasattr(table, "keys"):
        names = list(table.keys())
    return names


def _criterion_table(models, X, criteria):
    """Columns n_components, line (the name of each row's line) and each
    criterion, as arrays."""
    if isinstance(models, SelectionResult):
        models = models.table
    names = _column_names(models)
    if names is not None:
        missing = [c for c in ["n_components", *criteria] if c not in names]
        if missing:
            raise ValueError(f"the table has no column(s) {missing}")
        n_components = np.asarray(models["n_components"])

        def column(name, default):
            if name in names:
                return np.asarray(models[name], dtype=object)
            return np.full(len(n_components), default, dtype=object)

        lines = map(_line_label, column("covariance_type", ""), column("prior", None))
        table = {"n_components": n_components, "line": np.array(list(lines))}
        for name in criteria:
            table[name] = np.asarray(models[name], dtype=np.float64)
        return table
    models = list(models)
    if not models:
        raise ValueError("no models to plot")
    if X is None:
        raise ValueError("X is needed to compute the criterion of fitted models")
    table = {
        "n_components": np.array([m.n_components for m in models]),
        "line": np.array(
            [
                _line_label(m.covariance_type, grid_label(getattr(m, "prior", None)))
                for m in models
            ]  # scikit-learn's GaussianMixture has no prior
        ),
    }
    for name in criteria:
        table[name] = np.array([getattr(m, name)(X) for m in models])
    return table


def _feature_name(model, feature):
    names = getattr(model, "feature_names_in_", None)
    return str(names[feature]) if names is not None else f"feature {feature}"
