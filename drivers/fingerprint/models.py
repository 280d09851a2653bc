"""Profiles of the module models this driver knows.

The protocol has no reliable way to ask a module what it is (ReadSysPara carries no model, and
ReadProdInfo exists only on recent firmware), so the model is named in the scanner URL
(``model=r307``) and its profile gives the image size the UpImage transfer must fill.
Figures are the makers' datasheet values; ``library_size`` is typical and varies by firmware.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelProfile:
    key: str
    name: str
    width: int
    height: int
    dpi: int
    library_size: int
    aura_led: bool = False  # has the LED ring driven by AuraLedConfig (0x35)
    default_baudrate: int = 57600

    @property
    def image_bytes(self) -> int:
        """Bytes of one 4-bit image on the wire (two pixels per byte)."""
        return self.width * self.height // 2


MODELS: dict[str, ModelProfile] = {
    profile.key: profile
    for profile in (
        ModelProfile("r305", "R305", 256, 288, 500, 980),
        ModelProfile("r307", "R307", 256, 288, 500, 1000),
        ModelProfile("r503", "R503", 192, 192, 500, 200, aura_led=True),
        ModelProfile("as608", "AS608", 256, 288, 500, 300),
        ModelProfile("zfm20", "ZFM-20", 256, 288, 500, 162),
        ModelProfile("zfm60", "ZFM-60", 256, 288, 500, 300),
    )
}
DEFAULT_MODEL = "r307"


def model_profile(key: str) -> ModelProfile:
    try:
        return MODELS[key.strip().lower().replace("-", "")]
    except KeyError:
        raise ValueError(
            f"unknown scanner model {key!r}; valid models: {', '.join(sorted(MODELS))}"
        ) from None
