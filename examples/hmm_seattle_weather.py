"""Hidden states of Seattle's weather: a Gaussian hidden Markov model of four years of
daily records (vega_datasets' ``seattle_weather``), one sequence per year.

Fits GaussianHMM to each day's precipitation (log(1 + mm)), highest and lowest
temperature and wind, decodes each day's most probable state (Viterbi) and compares
the states with the weather label the records carry (rain, sun, fog, drizzle, snow),
which the model never sees (the labels are noisy: from mid-2013 most wet days are
labelled fog). Then hides a tenth of the values (NaN), fits again and fills them
with their smoothed expectation given every observed day of the year (``impute``),
against filling each with its column's mean. Draws the temperatures coloured by
state, above the labels.

    python examples/hmm_seattle_weather.py [--n-states 4] [--output seattle_weather.png]
"""

import argparse

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import adjusted_rand_score
from vega_datasets import data

from fastem.hmm import GaussianHMM

FEATURES = ("precipitation", "temp_max", "temp_min", "wind")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-states", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="seattle_weather.png")
    args = parser.parse_args(argv)

    weather = data.seattle_weather()
    X = weather[list(FEATURES)].to_numpy(dtype=float)
    X[:, 0] = np.log1p(X[:, 0])  # rain comes in bursts: its log is nearer normal
    lengths = weather.groupby(weather.date.dt.year).size().to_numpy()
    labels = weather.weather.to_numpy()

    model = GaussianHMM(
        args.n_states,
        covariance_type="full",
        n_iter=200,
        tol=1e-4,
        random_state=args.seed,
    ).fit(X, lengths)
    states = model.predict(X, lengths)
    # Number the states from the driest to the wettest.
    order = np.argsort(np.argsort(model.means_[:, 0]))
    states = order[states]
    means = model.means_[np.argsort(model.means_[:, 0])]
    print(
        f"{args.n_states} states on {len(lengths)} years ({len(X)} days), converged: "
        f"{model.monitor_.converged} after {model.monitor_.iter} iterations; "
        f"adjusted Rand index with the weather labels "
        f"{adjusted_rand_score(labels, states):.3f}"
    )
    names = sorted(set(labels))
    print("state  rain mm  max C  min C  wind  " + "  ".join(f"{n:>7}" for n in names))
    for k in range(args.n_states):
        counts = [np.count_nonzero((states == k) & (labels == n)) for n in names]
        print(
            f"{k:>5}  {np.expm1(means[k, 0]):7.1f}  {means[k, 1]:5.1f}  "
            f"{means[k, 2]:5.1f}  {means[k, 3]:4.1f}  "
            + "  ".join(f"{c:>7}" for c in counts)
        )
    stay = np.diag(model.transmat_)[np.argsort(model.means_[:, 0])]
    print(
        "days a state lasts on average: "
        + ", ".join(f"{1 / (1 - p):.1f}" for p in stay)
    )

    rng = np.random.default_rng(args.seed)
    hidden = X.copy()
    hidden[rng.random(X.shape) < 0.1] = np.nan
    holes = GaussianHMM(
        args.n_states,
        covariance_type="full",
        n_iter=200,
        tol=1e-4,
        random_state=args.seed,
    ).fit(hidden, lengths)
    filled = holes.impute(hidden, lengths)
    column_means = np.nanmean(hidden, axis=0)
    missing = np.isnan(hidden)
    for j, name in enumerate(FEATURES[1:], start=1):
        rows = missing[:, j]
        hmm_error = np.sqrt(np.mean((filled[rows, j] - X[rows, j]) ** 2))
        mean_error = np.sqrt(np.mean((column_means[j] - X[rows, j]) ** 2))
        print(
            f"a tenth of the values hidden: {name} imputed within {hmm_error:.2f} "
            f"(root mean square; the column's mean: {mean_error:.2f})"
        )

    figure = Figure(figsize=(10, 4.2))
    top, bottom = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for k in range(args.n_states):
        days = states == k
        top.scatter(
            weather.date[days], X[days, 1], s=4, label=f"state {k}", color=f"C{k}"
        )
    top.set_ylabel("highest temperature (C)")
    top.legend(loc="upper left", fontsize=8, markerscale=3, ncol=args.n_states)
    codes = np.array([names.index(label) for label in labels])
    bottom.scatter(weather.date, codes, s=2, c=codes, cmap="tab10", vmax=9)
    bottom.set_yticks(range(len(names)), names, fontsize=7)
    figure.suptitle("Seattle 2012-2015: the model's states and the weather labels")
    figure.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
