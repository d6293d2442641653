"""Worked examples of softmaxlab's extension points (see examples/README.md)."""
