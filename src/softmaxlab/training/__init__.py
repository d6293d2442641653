"""The training study (claim C15): a linear classifier trained through every method.

Modules: :mod:`~softmaxlab.training.data` (digits, Gaussian mixture),
:mod:`~softmaxlab.training.losses` (NLL via vjp, Fenchel-Young),
:mod:`~softmaxlab.training.optim` (gradient descent, Adam),
:mod:`~softmaxlab.training.evaluation` (accuracy, ECE),
:mod:`~softmaxlab.training.study` (the grid and its tables),
:mod:`~softmaxlab.training.verdict` (C15's typed result, verdict and text) and
:mod:`~softmaxlab.training.figure` (the loss-curve figure).
"""
