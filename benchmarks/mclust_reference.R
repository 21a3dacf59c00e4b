# mclust's fits of the data sets in CSV files, the reference of tests/test_selection.py.
#
# Run by benchmarks/mclust_reference.py (which exports scikit-learn's iris and wine
# and writes tests/data/mclust_reference.json); by hand:
#   Rscript benchmarks/mclust_reference.R OUT.csv NAME=DATA.csv [NAME=DATA.csv ...]
# Each row of OUT.csv is one mclust model: the data set, the model name, G, mclust's
# loglik, bic (2 loglik - npar log n) and icl, the same three at the parameters it
# returns (see below), npar, and the fitted parameters as
# space-separated numbers: pro (G), mean (G x d, row k the mean of component k) and
# sigma (G x d x d, the covariance of each component), all to 17 significant digits.
suppressPackageStartupMessages(library(mclust))

args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
models <- c("VII", "EEE", "VVI", "VVV")
groups <- 1:4
fmt <- function(x) paste(sprintf("%.17g", as.vector(x)), collapse = " ")

rows <- list()
for (spec in args[-1]) {
  parts <- strsplit(spec, "=", fixed = TRUE)[[1]]
  X <- as.matrix(read.csv(parts[2], header = FALSE))
  for (model in models) {
    for (G in groups) {
      fit <- Mclust(X, G = G, modelNames = model, verbose = FALSE)
      if (is.null(fit)) next
      par <- fit$parameters
      npar <- nMclustParams(model, ncol(X), G)
      # mclust reports the log-likelihood of its last E-step, taken before its last
      # M-step; the *_at_parameters values are those of the parameters it returns.
      e <- estep(data = X, modelName = model, parameters = par)
      bic_at <- 2 * e$loglik - npar * log(nrow(X))
      icl_at <- icl(modifyList(fit, list(z = e$z, bic = bic_at)))
      rows[[length(rows) + 1]] <- data.frame(
        dataset = parts[1], model = model, G = G, loglik = sprintf("%.17g", fit$loglik),
        bic = sprintf("%.17g", fit$bic), icl = sprintf("%.17g", icl(fit)),
        loglik_at_parameters = sprintf("%.17g", e$loglik),
        bic_at_parameters = sprintf("%.17g", bic_at),
        icl_at_parameters = sprintf("%.17g", icl_at), npar = npar, pro = fmt(par$pro),
        # Column-major: mean (d x G) is component by component, sigma (d x d x G)
        # matrix by matrix (each symmetric).
        mean = fmt(par$mean), sigma = fmt(par$variance$sigma)
      )
    }
  }
}
write.csv(do.call(rbind, rows), out, row.names = FALSE)
cat(sprintf("mclust %s, %s: %d models\n", packageVersion("mclust"), R.version.string,
            length(rows)))
