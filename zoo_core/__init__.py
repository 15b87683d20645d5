"""transfer-zoo: a plugin-based model zoo and adapter registry for transfer learning.

Importing ``zoo_core`` is cheap and never imports torch. The training API (``finetune``,
``evaluate``, ``predict``) is loaded on first use.
"""

__version__ = "0.1.0"
