"""
=====================================================
Hidden states of Seattle's weather: a GaussianHMM
=====================================================

Four years of daily records (vega_datasets' ``seattle_weather``), one sequence per
year. A :class:`~fastem.hmm.GaussianHMM` fits each day's precipitation (log(1 +
mm)), highest and lowest temperature and wind; Viterbi decoding gives each day's
most probable state, which we compare with the weather label the records carry
(rain, sun, fog, drizzle, snow) and the model never sees. The labels are noisy: from
mid-2013 most wet days are labelled fog. Then a tenth of the values are hidden
(NaN), the model is fitted again, and ``impute`` fills each with its smoothed
expectation given every observed day of its year.

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

parser = argparse.ArgumentParser(description="A GaussianHMM of Seattle's weather.")
parser.add_argument("--n-states", type=int, default=4)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

FEATURES = ("precipitation", "temp_max", "temp_min", "wind")

# %%
# Days as frames, years as sequences
# -----------------------------------
# Rain comes in bursts: its log is nearer a normal. ``lengths`` cuts the 1,461 days
# into the four years, each its own sequence.
weather = data.seattle_weather()
X = weather[list(FEATURES)].to_numpy(dtype=float)
X[:, 0] = np.log1p(X[:, 0])
lengths = weather.groupby(weather.date.dt.year).size().to_numpy()
labels = weather.weather.to_numpy()

model = GaussianHMM(
    args.n_states, covariance_type="full", n_iter=200, tol=1e-4, random_state=args.seed
).fit(X, lengths)
# Number the states from the driest to the wettest.
order = np.argsort(model.means_[:, 0])
states = np.argsort(order)[model.predict(X, lengths)]
print(
    f"{args.n_states} states on {len(lengths)} years ({len(X)} days), converged: "
    f"{model.monitor_.converged} after {model.monitor_.iter} iterations; adjusted "
    f"Rand index with the weather labels {adjusted_rand_score(labels, states):.3f}"
)

# %%
# What each state is
# ------------------
# Each state's mean day, how many days of each label it holds, and how long it
# lasts on average (1 / (1 - the probability of staying)).
names = sorted(set(labels))
print("state  rain mm  max C  min C  wind  " + "  ".join(f"{n:>7}" for n in names))
for k, state in enumerate(order):
    mean = model.means_[state]
    counts = [np.count_nonzero((states == k) & (labels == n)) for n in names]
    print(
        f"{k:>5}  {np.expm1(mean[0]):7.1f}  {mean[1]:5.1f}  {mean[2]:5.1f}  "
        f"{mean[3]:4.1f}  " + "  ".join(f"{c:>7}" for c in counts)
    )
stay = np.diag(model.transmat_)[order]
print("days a state lasts on average: " + ", ".join(f"{1 / (1 - p):.1f}" for p in stay))

# %%
# A tenth of the values hidden
# ----------------------------
# A day with NaN has the density of its observed values; ``impute`` fills each
# hole with E[x | every observed day of the year], which the chain carries from
# the days around it. Against filling with the column's mean:
rng = np.random.default_rng(args.seed)
hidden = X.copy()
hidden[rng.random(X.shape) < 0.1] = np.nan
holes = GaussianHMM(
    args.n_states, covariance_type="full", n_iter=200, tol=1e-4, random_state=args.seed
).fit(hidden, lengths)
filled = holes.impute(hidden, lengths)
column_means = np.nanmean(hidden, axis=0)
for j, name in enumerate(FEATURES[1:], start=1):
    rows = np.isnan(hidden[:, j])
    hmm_error = np.sqrt(np.mean((filled[rows, j] - X[rows, j]) ** 2))
    mean_error = np.sqrt(np.mean((column_means[j] - X[rows, j]) ** 2))
    print(
        f"a tenth of the values hidden: {name} imputed within {hmm_error:.2f} "
        f"(root mean square; the column's mean: {mean_error:.2f})"
    )

# %%
# The states through the years
# ----------------------------
# The highest temperature of each day, coloured by its state, above the labels.
fig, (top, bottom) = plt.subplots(
    2, 1, figsize=(10, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
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
