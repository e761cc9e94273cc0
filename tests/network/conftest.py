import pytest

import vsclient as vc
import netclient as nc


@pytest.fixture(autouse=True)
def clean_slate():
    """Every test ends with no domains and no networks."""
    yield
    vc.cleanup_all()
    nc.cleanup_all()
