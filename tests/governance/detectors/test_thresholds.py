import pytest

from governance.detectors import Thresholds


def test_policy_overrides_defaults():
    thresholds = Thresholds.from_policy({"volume_z": 5, "overkill_models": ["o3"], "min_events": 10})

    assert (thresholds.volume_z, thresholds.overkill_models, thresholds.min_events) == (5.0, ("o3",), 10)
    assert thresholds.repetition_share == Thresholds().repetition_share


def test_no_policy_means_defaults():
    assert Thresholds.from_policy(None) == Thresholds()


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"volume_zz": 3.0, "alpha": 1}, "unknown detector threshold(s): alpha, volume_zz"),
        ({"min_events": 2.5}, "min_events: expected int, got 2.5"),
        ({"volume_z": True}, "volume_z: expected float, got True"),
        ({"overkill_models": "gpt-4o"}, "overkill_models: expected tuple, got 'gpt-4o'"),
        ({"value_ratio": 1.5}, "value_ratio must be in (0, 1]"),
        ({"surge_ratio": 0}, "surge_ratio must be positive"),
        ({"simhash_distance": 9}, "simhash_distance must be in 0..8"),
    ],
)
def test_rejects_bad_policy(policy, message):
    with pytest.raises(ValueError) as error:
        Thresholds.from_policy(policy)

    assert str(error.value) == message


def test_direct_construction_is_validated_too():
    with pytest.raises(ValueError, match="padding_share must be in"):
        Thresholds(padding_share=0)
