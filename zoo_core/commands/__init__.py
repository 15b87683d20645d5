"""The ``zoo`` CLI's command families, each added to the root group by :mod:`zoo_core.cli`."""
