"""Sufficient statistics as values: they add over chunks, threads, missingness
patterns, files, sequences and machines.

EM's E-step is a sum over rows, so one pass over any data source is the sum of the
statistics of its parts, whatever the parts are. A model's statistics subclass
:class:`Stats`, naming the float64 arrays that add (``_sums``) and the attributes
that must agree for two statistics to add (``_frame``: a Gaussian's moments are taken
around a shift, for instance).
"""

import numpy as np


class Stats:
    """Additive sufficient statistics of one pass over weighted data.

    Subclasses set ``_sums`` (names of float64 array attributes, summed by ``+``),
    ``_frame`` (names of attributes two statistics must share to add) and may
    override :meth:`_reframed`; every instance has a ``log_likelihood`` (float, the
    sum over rows of w_n log p(x_n) under the parameters the statistics were taken
    at). Arithmetic returns new statistics; ``+=`` adds in place.
    """

    _sums: tuple = ()
    _frame: tuple = ()
    log_likelihood: float = 0.0

    def _replace_sums(self, sums, log_likelihood):
        """A copy of ``self`` in the same frame with other sums."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        for name, value in zip(self._sums, sums):
            setattr(other, name, value)
        other.log_likelihood = log_likelihood
        return other

    def _sum_arrays(self):
        return [getattr(self, name) for name in self._sums]

    def _check_frame(self, other):
        if type(other) is not type(self):
            raise TypeError(
                f"cannot add {type(other).__name__} to {type(self).__name__}"
            )
        for name in self._frame:
            mine, theirs = getattr(self, name), getattr(other, name)
            if not np.array_equal(mine, theirs):
                raise ValueError(
                    f"statistics taken in different frames ({name}) do not add up"
                )

    def copy(self):
        """Statistics equal to these, sharing no array with them."""
        return self._replace_sums(
            [array.copy() for array in self._sum_arrays()], self.log_likelihood
        )

    def __iadd__(self, other):
        """Add the statistics of other data, in place."""
        self._check_frame(other)
        for mine, theirs in zip(self._sum_arrays(), other._sum_arrays()):
            mine += theirs
        self.log_likelihood += other.log_likelihood
        return self

    def __add__(self, other):
        total = self.copy()
        total += other
        return total

    def __mul__(self, number):
        """Statistics times ``number``: every sum multiplied by it."""
        return self._replace_sums(
            [array * number for array in self._sum_arrays()],
            self.log_likelihood * number,
        )

    def __truediv__(self, number):
        """Statistics per ``number`` (of rows, say): every sum divided by it."""
        return self._replace_sums(
            [array / number for array in self._sum_arrays()],
            self.log_likelihood / number,
        )

    def _reframed(self, like):
        """The same statistics in the frame of ``like``. The base class has no frame
        to change: frames must already agree."""
        self._check_frame(like)
        return self

    def blend(self, other, step):
        """(1 - step) * self + step * other, in ``other``'s frame: online EM's update
        of running statistics by a batch's."""
        running = self._reframed(other)
        return running._replace_sums(
            [
                (1.0 - step) * mine + step * theirs
                for mine, theirs in zip(running._sum_arrays(), other._sum_arrays())
            ],
            (1.0 - step) * running.log_likelihood + step * other.log_likelihood,
        )

    def to_flat(self):
        """The sums and the log-likelihood in one 1-D float64 array, for transport
        (Dask blocks send back only this)."""
        return np.concatenate(
            [array.ravel() for array in self._sum_arrays()] + [[self.log_likelihood]]
        )

    def from_flat(self, flat):
        """Statistics in ``self``'s frame whose sums are read from ``flat``, as
        :meth:`to_flat` wrote them."""
        arrays = self._sum_arrays()
        length = sum(array.size for array in arrays) + 1
        if len(flat) != length:
            raise ValueError(
                f"flat statistics of length {len(flat)}; expected {length}"
            )
        sums, start = [], 0
        for array in arrays:
            sums.append(np.array(flat[start : start + array.size]).reshape(array.shape))
            start += array.size
        return self._replace_sums(sums, float(flat[-1]))
