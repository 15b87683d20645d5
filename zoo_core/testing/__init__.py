"""Contract checks and tiny fixtures for transfer-zoo and its plugins.

``zoo_core.testing.tiny`` builds tiny real models (a timm ``test_*`` convnet, a 2-layer BERT) with
a catalog file pointing at them; ``zoo_core.testing.contracts`` holds the checks every backbone
family and adaptation method must pass. Plugin authors run the same checks on their plugins.
"""


def parametrize_with_checks(module: str):
    """Decorate a test taking ``check`` so that it runs once per contract check of ``module``::

    @parametrize_with_checks("zoo_my_plugin")
    def test_contract(check):
        check()
    """
    import pytest

    from zoo_core.testing.checks import iter_checks

    checks = list(iter_checks(module))
    return pytest.mark.parametrize("check", [c for _, c in checks], ids=[name for name, _ in checks])
