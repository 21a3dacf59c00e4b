"""Text clustering with a multinomial mixture: 395 Reuters news stories as counts of
4,258 words (the corpus the `lda` package ships), kept sparse.

Fits MultinomialMixture on the word counts, prints each cluster's most
characteristic words (those adding most to how its word distribution differs from
the corpus': theta_kj log(theta_kj / p_j)) and a title of its stories, and draws the
clusters' sizes and top words.

    python examples/cluster_reuters.py [--n-components 8] [--output reuters.png]
"""

import argparse

import lda.datasets
import numpy as np
import scipy.sparse as sp
from matplotlib.figure import Figure

from fastem import MultinomialMixture


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-components", type=int, default=8)
    parser.add_argument("--n-words", type=int, default=8, help="words per cluster")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="reuters.png")
    args = parser.parse_args(argv)

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

    figure = Figure(figsize=(12, 1.2 + 0.45 * args.n_components))
    ax = figure.subplots()
    sizes = [np.count_nonzero(labels == k) for k, _ in tops]
    ax.barh(range(len(tops)), sizes, color="#8ab")
    for row, ((_, top), size) in enumerate(zip(tops, sizes)):
        ax.text(size + 1, row, ", ".join(vocabulary[top]), va="center", fontsize=9)
    ax.set_yticks(range(len(tops)), [f"cluster {k}" for k, _ in tops])
    ax.invert_yaxis()
    ax.set_xlim(0, max(sizes) * 3)
    ax.set_xlabel("stories")
    ax.set_title("Reuters stories: clusters of a multinomial mixture and their words")
    figure.tight_layout()
    figure.savefig(args.output, dpi=80)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
