"""The heavy half of zoo_core: its modules import torch at module level (directly or through each
other); treat every one of them as heavy.

Modules that may import torch at module level: ``zoo_core.engine.*``; ``zoo_core.testing.contracts``
(the contract suite builds and steps real tiny models); and the modules plugins name in import
strings (``zoo_timm._impl``, ``zoo_hf._impl``, ``zoo_methods``' private modules,
``zoo_peft._impl``, a third party's ``_impl``). Modules that must not: the rest of ``zoo_core``
(``cli``, ``specs``, ``options``, ``hookspecs``, ``plugins``, ``catalog``, ``weights``, ``data``,
``store``...), every plugin's top-level module and what it imports (such as its options dataclasses,
``zoo_peft.options``), so that ``zoo --help`` and the listing commands (``zoo plugins list``,
``zoo models list``, ``zoo methods list``...) stay fast: ``tests/test_light_imports.py`` and the
contract suite's light-import check enforce it. Reach this package only through import strings or
imports inside functions.
"""
