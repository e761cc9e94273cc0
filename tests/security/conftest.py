import pytest

import vsclient as vc


@pytest.fixture(autouse=True)
def no_leftover_domains():
    """Every test ends with no domains, so none leaks VMs into the next."""
    yield
    vc.cleanup_all()
