"""The heavy half of zoo_core: everything here imports torch at module level.

Nothing outside ``zoo_core.engine`` (and the plugins' ``_impl`` modules) imports it, so the CLI's
listing commands stay fast. Reach this package only through import strings or inside functions.
"""
