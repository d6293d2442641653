"""softmaxlab: measurements of why softmax uses exp.

>>> import softmaxlab
>>> softmaxlab.normalize([2.0, 4.0, 2.0, 1.0], "softmax").round(4)
array([0.1025, 0.7573, 0.1025, 0.0377])
"""

from softmaxlab.dtypes import DTYPES, dtype_names, get_dtype
from softmaxlab.methods import (
    check_params,
    evaluate,
    label,
    method_defaults,
    methods,
    normalize,
    parse_label,
    register_method,
    unregister_method,
)
from softmaxlab.vjp import vjp

__all__ = [
    "DTYPES",
    "check_params",
    "dtype_names",
    "evaluate",
    "get_dtype",
    "label",
    "method_defaults",
    "methods",
    "normalize",
    "parse_label",
    "register_method",
    "unregister_method",
    "vjp",
]
__version__ = "0.1.0"
