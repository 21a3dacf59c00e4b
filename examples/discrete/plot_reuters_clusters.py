"""
=================================================
Clustering news stories: a multinomial mixture
=================================================

395 Reuters news stories as counts of 4,258 words (the corpus the ``lda`` package
ships), kept as a sparse matrix. A :class:`~fastem.mixture.MultinomialMixture`
gives each cluster its own distribution over the words; each EM iteration costs
O(nnz x K), and the matrix is never densified. We print each cluster's most
characteristic words (those adding most to how its word distribution differs from
the whole corpus', theta_kj log(theta_kj / p_j)) and the title of one of its
stories.

As a script, with the figure saved::

    python examples/discrete/plot_reuters_clusters.py --output reuters.png
"""

import argparse

import lda.datasets
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from fastem import MultinomialMixture

parser = argparse.ArgumentParser(description="A multinomial mixture of news.")
parser.add_argument("--n-components", type=int, default=8)
parser.add_argument("--n-words", type=int, default=8, help="words per cluster")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# Fit the word counts
# -------------------
counts = sp.csr_array(lda.datasets.load_reuters())
vocabulary = np.array(lda.datasets.load_reuters_vocab())
titles = lda.datasets.load_reuters_titles()
model = MultinomialMixture(args.n_components, n_init=5, random_state=args.seed).fit(
    counts
)
labels = model.predict(counts)
print(
    f"{counts.shape[0]} stories, {counts.shape[1]} words, {counts.nnz} non-zero "
    f"counts; {args.n_components} clusters, converged: {model.converged_} after "
    f"{model.n_iter_} iterations"
)

# %%
# Each cluster's words
# --------------------
# ``feature_log_prob_`` holds log theta_kj, the probability of word j in a story of
# cluster k. The most frequent words (``the``, ``said``) are frequent everywhere;
# ranking by theta_kj log(theta_kj / p_j) favours the words that set a cluster
# apart.
corpus = np.log(np.asarray(counts.sum(axis=0)).ravel() / counts.sum())
theta = np.exp(model.feature_log_prob_)
distinctive = theta * (model.feature_log_prob_ - corpus)  # terms of the KL
tops = []
for k in np.argsort(-model.weights_):
    top = np.argsort(-distinctive[k])[: args.n_words]
    tops.append((k, top))
    story = titles[np.flatnonzero(labels == k)[0]] if np.any(labels == k) else ""
    print(
        f"cluster {k} ({np.count_nonzero(labels == k)} stories): "
        + ", ".join(vocabulary[top])
    )
    print(f"    e.g. {story.split(' ', 1)[-1][:70]}")

# %%
# The clusters' sizes and words
# -----------------------------
fig, ax = plt.subplots(figsize=(10, 1.2 + 0.45 * args.n_components))
sizes = [np.count_nonzero(labels == k) for k, _ in tops]
ax.barh(range(len(tops)), sizes, color="#8ab")
for row, ((_, top), size) in enumerate(zip(tops, sizes)):
    ax.text(size + 1, row, ", ".join(vocabulary[top]), va="center", fontsize=9)
ax.set_yticks(range(len(tops)), [f"cluster {k}" for k, _ in tops])
ax.invert_yaxis()
ax.set_xlim(0, max(sizes) * 2.6)
ax.set_xlabel("stories")
ax.set_title("Reuters stories: clusters of a multinomial mixture and their words")
fig.tight_layout()

if args.output:
    fig.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")
