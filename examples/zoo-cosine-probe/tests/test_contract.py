"""The plugin passes transfer-zoo's contract suite (what `zoo plugins check zoo_cosine_probe` runs)."""

from zoo_core.testing import parametrize_with_checks


@parametrize_with_checks("zoo_cosine_probe")
def test_contract(check):
    check()
