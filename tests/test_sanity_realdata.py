"""The sanity warnings stay silent on the real maps of ../shared/data that have a structure."""

import logging

import pytest

from difffit.config import FitConfig
from difffit.density.prepare import prepare_map
from difffit.fitting.pipeline import default_resolution, map_warnings
from difffit.io import read_map
from tests.conftest import data_path

pytestmark = pytest.mark.realdata

MAPS = [
    ("ccpem_emd21457_spike_ntd", "emd_21457_seg.mrc"),
    ("ccpem_emd3488_haemoglobin", "emd_3488.mrc"),
    ("difffit_domainfit_demo", "density1.mrc"),
    ("difffit_domainfit_demo", "density2.mrc"),
    ("mainmastseg_emd0093_hcn4", "MAP_m4A.mrc.gz"),
    ("tempy_actin_emd5168", "emd_5168_monomer.mrc"),
    ("tempy_actin_emd5168", "emd_5168.map"),
    ("tempy_actin_emd5168", "emd_5170.map"),
    ("powerfit_emd1997_groel", "1997.map"),
]


@pytest.mark.parametrize(("folder", "name"), MAPS)
def test_real_maps_give_no_warning(folder, name, caplog):
    m = read_map(data_path(folder, name))
    with caplog.at_level(logging.WARNING, logger="difffit"):
        w = map_warnings(prepare_map(m, FitConfig().prep), default_resolution(m))
    assert w == [] and not [r for r in caplog.records if r.levelno >= logging.WARNING]
