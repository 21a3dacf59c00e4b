"""
==================================================
Hidden states of Seattle's weather: a Gaussian HMM
==================================================

Four years of Seattle's daily weather (vega_datasets' ``seattle_weather``), one
sequence per year. A :class:`~fastem.hmm.GaussianHMM` fits each day's precipitation
(log(1 + mm)), highest and lowest temperature and wind; each day gets its most
probable state (Viterbi), compared with the weather label the records carry (rain,
sun, fog, drizzle, snow), which the model never sees (the labels are noisy: from
mid-2013 most wet days are labelled fog). Then a tenth of the values is hidden
(NaN), the model is fitted again and fills them with their expectation given every
observed day of the year (``impute``), against filling each with its column's mean.

As a script, with three states and the figure saved::

    python examples/hmm/plot_seattle_weather.py --n-states 3 \\
        --output seattle_weather.png
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score
from vega_datasets import data

from fastem.hmm import GaussianHMM

parser = argparse.ArgumentParser(description="A Gaussian HMM of Seattle's weather.")
parser.add_argument("--n-states", type=int, default=4)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# The days, one sequence per year
# -------------------------------
# ``lengths`` cuts the rows of ``X`` into sequences: the chain starts afresh each
# year. Rain comes in bursts, so the model sees the log of the precipitation, nearer
# a normal distribution.
FEATURES = ("precipitation", "temp_max", "temp_min", "wind")
weather = data.seattle_weather()
X = weather[list(FEATURES)].to_numpy(dtype=float)
X[:, 0] = np.log1p(X[:, 0])
lengths = weather.groupby(weather.date.dt.year).size().to_numpy()
labels = weather.weather.to_numpy()

# %%
# Fit, decode and compare the states with the labels
# --------------------------------------------------
# ``predict`` gives each day the state of the most probable path (Viterbi). The
# states are numbered from the driest to the wettest; a state with a stay
# probability p on the diagonal of ``transmat_`` lasts 1 / (1 - p) days on average.
model = GaussianHMM(
    args.n_states, covariance_type="full", n_iter=200, tol=1e-4, random_state=args.seed
).fit(X, lengths)
order = np.argsort(model.means_[:, 0])
states = np.argsort(order)[model.predict(X, lengths)]
means = model.means_[order]
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
stay = np.diag(model.transmat_)[order]
print("days a state lasts on average: " + ", ".join(f"{1 / (1 - p):.1f}" for p in stay))

# %%
# A tenth of the values hidden
# ----------------------------
# NaN is a missing value: a day's density is that of its observed features. After
# the fit, ``impute`` fills each hole with its expectation given every observed day
# of its sequence, which knows more than the column's mean.
rng = np.random.default_rng(args.seed)
hidden = X.copy()
hidden[rng.random(X.shape) < 0.1] = np.nan
holes = GaussianHMM(
    args.n_states, covariance_type="full", n_iter=200, tol=1e-4, random_state=args.seed
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

# %%
# The states through the years
# ----------------------------
# The highest temperature of each day coloured by its state, above the labels of
# the records.
fig, (top, bottom) = plt.subplots(
    2, 1, sharex=True, figsize=(10, 4.2), gridspec_kw={"height_ratios": [3, 1]}
)
for k in range(args.n_states):
    days = states == k
    top.scatter(weather.date[days], X[days, 1], s=4, label=f"state {k}", color=f"C{k}")
top.set_ylabel("highest temperature (C)")
top.legend(loc="upper left", fontsize=8, markerscale=3, ncol=args.n_states)
codes = np.array([names.index(label) for label in labels])
bottom.scatter(weather.date, codes, s=2, c=codes, cmap="tab10", vmax=9)
bottom.set_yticks(range(len(names)), names, fontsize=7)
fig.suptitle("Seattle 2012-2015: the model's states and the weather labels")

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
