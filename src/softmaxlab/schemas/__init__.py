"""The JSON Schema (YAML) of a sweep config, shipped as package data: softmaxlab.config reads
config.schema.yaml with importlib.resources, so an installed package validates a config
wherever it runs. workflow/schemas/config.schema.yaml is a symlink to it (the
snakemake-workflows layout). No code: a subpackage only so that the schema does not count as
code of the modules that import softmaxlab (softmaxlab.provenance): the config values it
fills in reach the jobs as params."""
