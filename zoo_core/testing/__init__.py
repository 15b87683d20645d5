"""Contract checks and tiny fixtures for transfer-zoo and its plugins.

``zoo_core.testing.tiny`` builds tiny real models (a timm ``test_*`` convnet, a 2-layer BERT) with
a catalog file pointing at them; ``zoo_core.testing.contracts`` holds the checks every backbone
family and adaptation method must pass. Plugin authors run the same checks on their plugins.
"""
