"""Detector thresholds in a policy are checked when the policy is saved, not only when detection runs."""

import pytest
from django.core.exceptions import ValidationError

from governance.models import Policy
from governance.services.policies import policy_set


def test_rejects_unknown_detector_threshold_and_saves_nothing(db):
    with pytest.raises(ValidationError) as caught:
        policy_set(scope=Policy.Scope.ORG, values={"detector_thresholds": {"volume_zz": 3}})

    assert "detector_thresholds" in caught.value.message_dict
    assert Policy.objects.count() == 0


def test_accepts_known_detector_thresholds(db):
    policy = policy_set(scope=Policy.Scope.ORG, values={"detector_thresholds": {"volume_z": 4.0}})

    assert Policy.objects.get(pk=policy.pk).detector_thresholds == {"volume_z": 4.0}
