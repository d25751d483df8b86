"""YAML parsing for trusted files read at run time (the asset manifests, the violation codes): PyYAML's
safe loader on libyaml's C parser when PyYAML was built with it (about ten times faster than the
pure-Python parser, same objects), else the pure-Python one.

Crossing files are not parsed here: `detector.config` keeps its bounded pure-Python loader, which
refuses aliases and deep nesting in user-supplied text.
"""

from __future__ import annotations

import yaml

SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> object:
    """`text` parsed by the safe loader (plain YAML objects only); yaml.YAMLError when it is not YAML."""
    return yaml.load(text, Loader=SafeLoader)  # a safe loader, C or Python: plain objects only
