"""The training study (claim C15): a linear classifier trained through every method.

Modules: :mod:`~softmaxlab.training.data` (digits, Gaussian mixture),
:mod:`~softmaxlab.training.losses` (NLL via vjp, Fenchel-Young),
:mod:`~softmaxlab.training.optim` (gradient descent, Adam),
:mod:`~softmaxlab.training.evaluation` (accuracy, ECE),
:mod:`~softmaxlab.training.study` (the grid and its tables),
:mod:`~softmaxlab.training.result` (C15's measurement and typed result),
:mod:`~softmaxlab.training.verdict` (its verdict and text),
:mod:`~softmaxlab.training.figure` (the loss-curve figure),
:mod:`~softmaxlab.training.job` (the training job: runs, curves, typed result, digits
logits) and :mod:`~softmaxlab.training.publish` (the verdict job: verdict JSON, figure).
"""
