"""The verdict rule: z against the run's own clusters, and the three labels."""

from __future__ import annotations

import numpy as np
import pytest

from difffit.errors import ConfigError
from difffit.verdict import Verdict, VerdictRule, cluster_z_scores, verdicts


def test_z_is_fisher_standardised():
    cam = np.array([0.6, 0.1, 0.05, 0.0, -0.05, 0.1])
    z = cluster_z_scores(cam)
    f = np.arctanh(cam)
    assert np.allclose(z, (f - f.mean()) / f.std())
    assert z[0] == z.max()


@pytest.mark.parametrize("cam", [[0.5], [0.5, 0.1], [0.2, 0.2, 0.2]])
def test_z_undefined_without_a_distribution(cam):
    assert np.all(np.isnan(cluster_z_scores(np.array(cam))))


def test_labels():
    background = list(np.linspace(-0.05, 0.1, 40))
    z, labels = verdicts(np.array([0.6, 0.2, *background]))
    assert labels[0] is Verdict.CONVINCING and z[0] > 3
    assert labels[1] is Verdict.AMBIGUOUS
    assert set(labels[2:]) == {Verdict.NO_CONVINCING_FIT}
    assert str(labels[2]) == "no convincing fit"


def test_high_cam_that_does_not_stand_out_is_not_convincing():
    # every cluster equally good: nothing stands out from the run
    cam = np.array([0.31, 0.3, 0.3, 0.29, 0.3, 0.31, 0.3, 0.29])
    _, labels = verdicts(cam)
    assert Verdict.CONVINCING not in labels


def test_lone_cluster_judged_on_cam():
    _, labels = verdicts(np.array([0.5]))
    assert labels == [Verdict.CONVINCING]
    _, labels = verdicts(np.array([float("nan")]))
    assert labels == [Verdict.NO_CONVINCING_FIT]


@pytest.mark.parametrize(
    "kwargs",
    [{"convincing_cam": 2.0}, {"ambiguous_cam": -3}, {"convincing_z": float("inf")},
     {"convincing_cam": 0.1, "ambiguous_cam": 0.2}],
)  # fmt: skip
def test_bad_rules(kwargs):
    with pytest.raises(ConfigError):
        VerdictRule(**kwargs)
