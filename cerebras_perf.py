"""``-p cerebras_perf``: the name that turns the plugin on (pytest imports it, then registers it).

The package has no ``pytest11`` entry point, so installing it changes no other project's pytest;
this module makes the opt-in name short. It *is* :mod:`pytest_cerebras_perf.plugin` (aliased in
``sys.modules``), so every hook and the ``cerebras_call`` fixture are defined once, there.
``addopts = -p cerebras_perf`` and ``pytest_plugins = ["cerebras_perf"]`` work the same way.
"""

import sys

from pytest_cerebras_perf import plugin

sys.modules[__name__] = plugin
