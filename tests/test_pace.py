"""PACE against the worked example of ICAO Doc 9303 part 11, appendix G (ECDH generic mapping on
brainpoolP256r1, AES-128), then full reads of simulated chips that offer PACE, PACE only, or BAC.

Every hex value below is a published one (document T22000129, born 640812, expires 101031).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec as cec

from drivers.idcard import (
    ACCESS_DENIED_MESSAGE,
    AccessDeniedError,
    AccessKey,
    CardError,
    card_reader_for_url,
    lds,
)
from drivers.idcard.apdu import CommandAPDU, ResponseAPDU
from drivers.idcard.chip import SimulatedChip
from drivers.idcard.ec import STANDARD_CURVES
from drivers.idcard.mrz import check_digit
from drivers.idcard.pace import (
    ChipPace,
    PaceInfo,
    ReaderPace,
    build_card_access,
    choose,
    pace_info,
    parse_card_access,
    password_key,
)
from drivers.idcard.personalise import DEFAULT_MRZ, PersonalisedDocument, make_pki, personalise
from drivers.idcard.protocol import ChipSession
from drivers.idcard.sim import SimulatedCardReader
from drivers.idcard.sm import SecureMessaging

H = bytes.fromhex
G_KEY = AccessKey("T22000129", "640812", "101031")
G_INFO = PaceInfo(
    "0.4.0.127.0.7.2.2.4.2.2", 2, 13
)  # PACE-ECDH-GM-AES-CBC-CMAC-128, brainpoolP256r1
G_CARD_ACCESS = H("31143012060A04007F0007020204020202010202010D")
K_PI = H("89DED1B26624EC1E634C1989302849DD")
NONCE = H("3F00C4D39D153F2B2A214A078D899B22")
ENCRYPTED_NONCE = H("95A3A016522EE98D01E76CB6B98B42C3")
SK_MAP_IFD = 0x7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99
PK_MAP_IFD = H(
    "047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E"
    "544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D"
)
SK_MAP_IC = 0x498FF49756F2DC1587840041839A85982BE7761D14715FB091EFA7BCE9058560
PK_MAP_IC = H(
    "04824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F57"
    "30D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C54"
)
SHARED_H = (
    0x60332EF2450B5D247EF6D3868397D398852ED6E8CAF6FFEEF6BF85CA57057FD5,
    0x0840CA7415BAF3E43BD414D35AA4608B93A2CAF3A4E3EA4E82C9C13D03EB7181,
)
MAPPED_G = (
    0x8CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E2,
    0x8C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522,
)
SK_IFD = 0xA73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595
PK_IFD = H(
    "042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C"
    "3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB36462"
)
SK_IC = 0x107CF58696EF6155053340FD633392BA81909DF7B9706F226F32086C7AFF974A
PK_IC = H(
    "049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB"
    "7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F094"
)
SHARED_SECRET = H("28768D20701247DAE81804C9E780EDE582A9996DB4A315020B2733197DB84925")
KS_ENC = H("F5F0E35C0D7161EE6724EE513A0D9A7F")
KS_MAC = H("FE251C7858B356B24514B3BD5F4297D1")
T_IFD = H("C2B0BD78D94BA866")
T_IC = H("3ABB9674BCE93C08")
TRANSCRIPT = [  # (command, response) as the appendix prints them
    ("0022C1A40F800A04007F00070202040202830101", "9000"),
    ("10860000027C0000", "7C12801095A3A016522EE98D01E76CB6B98B42C39000"),
    ("10860000457C43814104" + PK_MAP_IFD[1:].hex() + "00", "7C43824104" + PK_MAP_IC[1:].hex() + "9000"),
    ("10860000457C43834104" + PK_IFD[1:].hex() + "00", "7C43844104" + PK_IC[1:].hex() + "9000"),
    ("008600000C7C0A8508" + T_IFD.hex() + "00", "7C0A8608" + T_IC.hex() + "9000"),
]  # fmt: skip


def test_the_password_key_is_the_published_k_pi() -> None:
    assert password_key(G_INFO.algorithm, G_KEY) == K_PI  # type: ignore[arg-type]


def test_the_reader_half_reproduces_every_published_value() -> None:
    reader = ReaderPace(G_INFO, G_KEY, scalars=[SK_MAP_IFD, SK_IFD])
    assert reader.decrypt_nonce(ENCRYPTED_NONCE) == NONCE
    assert reader.mapping_key() == PK_MAP_IFD
    assert reader.map(PK_MAP_IC) == MAPPED_G
    assert reader.shared_point == SHARED_H
    assert reader.ephemeral_key() == PK_IFD
    assert reader.agree(PK_IC) == SHARED_SECRET
    assert reader.sm is not None
    assert (reader.sm.ks_enc, reader.sm.ks_mac, reader.sm.ssc) == (KS_ENC, KS_MAC, 0)
    assert reader.reader_token() == T_IFD
    assert reader.check_chip_token(T_IC).cipher == "AES"


def test_the_chip_half_reproduces_every_published_value() -> None:
    chip = ChipPace(G_INFO, G_KEY, nonce=NONCE, scalars=[SK_MAP_IC, SK_IC])
    assert chip.encrypted_nonce() == ENCRYPTED_NONCE
    assert chip.map_nonce(PK_MAP_IFD) == PK_MAP_IC
    assert (chip.shared_point, chip.generator) == (SHARED_H, MAPPED_G)
    assert chip.key_agreement(PK_IFD) == PK_IC
    assert chip.shared == SHARED_SECRET
    assert chip.mutual_authenticate(T_IFD) == T_IC
    assert chip.sm is not None and (chip.sm.ks_enc, chip.sm.ks_mac) == (KS_ENC, KS_MAC)


def test_a_wrong_token_is_refused_by_the_chip() -> None:
    chip = ChipPace(G_INFO, G_KEY, nonce=NONCE, scalars=[SK_MAP_IC, SK_IC])
    chip.encrypted_nonce()
    chip.map_nonce(PK_MAP_IFD)
    chip.key_agreement(PK_IFD)
    with pytest.raises(ValueError, match="token does not verify"):
        chip.mutual_authenticate(bytes([T_IFD[0] ^ 1]) + T_IFD[1:])


def _td3(number: str, birth: str, expiry: str) -> str:
    optional = "<" * 14
    fields = [number + check_digit(number), birth + check_digit(birth)]
    fields += [expiry + check_digit(expiry), optional + check_digit(optional)]
    composite = check_digit("".join(fields))
    line2 = f"{fields[0]}UTO{fields[1]}F{fields[2]}{fields[3]}{composite}"
    return "P<UTOSPECIMEN<<PACE".ljust(44, "<") + "\n" + line2


def test_reader_and_simulated_chip_exchange_exactly_the_published_apdus() -> None:
    document = personalise(_td3("T22000129", "640812", "101031"), pace=[G_INFO], pki=make_pki())
    assert document.files[lds.EF_CARD_ACCESS] == G_CARD_ACCESS
    chip = SimulatedChip(document, pace_fixed=(NONCE, [SK_MAP_IC, SK_IC]))
    exchanged: list[tuple[str, str]] = []

    def transmit(command: CommandAPDU) -> ResponseAPDU:
        raw = chip.process(command.to_bytes())
        exchanged.append((command.to_bytes().hex().upper(), raw.hex().upper()))
        return ResponseAPDU.from_bytes(raw)

    session = ChipSession(transmit)
    session.authenticate_pace(G_KEY, G_INFO, scalars=[SK_MAP_IFD, SK_IFD])
    assert exchanged == [(c.upper(), r.upper()) for c, r in TRANSCRIPT]
    assert isinstance(session.sm, SecureMessaging)
    assert (session.sm.ks_enc, session.sm.ks_mac, session.protocol) == (KS_ENC, KS_MAC, "PACE")
    session.select_application()  # the chip accepts AES secure messaging with these keys
    assert session.read_file(lds.EF_COM) == document.files[lds.EF_COM]


@pytest.mark.parametrize("pid", sorted(STANDARD_CURVES))
def test_the_standard_curves_agree_with_openssl(pid: int) -> None:
    curve = STANDARD_CURVES[pid]
    assert curve.contains(curve.generator)
    assert curve.multiply(curve.n, curve.generator) is None
    k = 0x1234567890ABCDEF1234567890ABCDEF % curve.n
    ours = curve.multiply(k, curve.generator)
    openssl = {
        "secp192r1": cec.SECP192R1(), "secp224r1": cec.SECP224R1(), "secp256r1": cec.SECP256R1(),
        "secp384r1": cec.SECP384R1(), "secp521r1": cec.SECP521R1(),
        "brainpoolP256r1": cec.BrainpoolP256R1(), "brainpoolP384r1": cec.BrainpoolP384R1(),
        "brainpoolP512r1": cec.BrainpoolP512R1(),
    }.get(curve.name)  # fmt: skip
    if openssl is None:  # brainpoolP192r1/224r1/320r1: cryptography lacks them; on-curve is checked
        assert curve.contains(ours)
        return
    numbers = cec.derive_private_key(k, openssl).public_key().public_numbers()
    assert ours == (numbers.x, numbers.y)


def test_card_access_round_trips_and_the_first_usable_protocol_is_chosen() -> None:
    assert parse_card_access(G_CARD_ACCESS) == [G_INFO]
    dh = PaceInfo("0.4.0.127.0.7.2.2.4.1.2", 2, 2)  # DH generic mapping: not done here
    p256 = pace_info("secp256r1", "aes256")
    raw = build_card_access([dh, p256])
    assert parse_card_access(raw) == [dh, p256]
    assert choose([dh, p256]) == p256
    assert choose([dh]) is None
    assert p256.describe() == "PACE-ECDH-GM-AES-CBC-CMAC-256 on secp256r1"


# --- full reads ---------------------------------------------------------------------------------

KEY = AccessKey.from_mrz(DEFAULT_MRZ)


@pytest.fixture(scope="module")
def photo(lfw_people: list[Path]) -> bytes:
    return sorted(lfw_people[2].glob("*.jpg"))[0].read_bytes()


def chip_for(photo: bytes, infos: list[PaceInfo] | None, **options: bool) -> SimulatedChip:
    document = personalise(DEFAULT_MRZ, photo, pki=make_pki("KG"), pace=infos)
    return SimulatedChip(document, **options)


def read(chip: SimulatedChip, url: str = "sim://") -> SimulatedCardReader:
    return SimulatedCardReader(url, chip=chip)


@pytest.mark.parametrize(
    ("curve", "cipher"),
    [("brainpoolP256r1", "aes128"), ("secp256r1", "aes128"), ("secp384r1", "aes192"),
     ("brainpoolP512r1", "aes256"), ("secp521r1", "aes256"), ("secp256r1", "3des")],
)  # fmt: skip
def test_a_full_read_through_pace(photo: bytes, tmp_path: Path, curve: str, cipher: str) -> None:
    chip = chip_for(photo, [pace_info(curve, cipher)])
    chip.document.pki.write_csca(tmp_path)
    result = read(chip).read_document(KEY, csca_dir=tmp_path)
    assert result.access_protocol == "PACE"
    assert curve in result.access_detail and "ECDH-GM" in result.access_detail
    assert result.mrz.surname == "TESTOVA" and result.photo_bytes == photo
    assert result.passive_auth.passed, result.passive_auth.summary()
    instructions = [apdu[1] for apdu in chip.log]
    assert 0x22 in instructions and 0x86 in instructions and 0x82 not in instructions  # no BAC
    assert result.to_json()["access_protocol"] == "PACE"


def test_a_wrong_key_through_pace_gives_access_denied_and_no_bac_retry(photo: bytes) -> None:
    chip = chip_for(photo, [pace_info()])
    reader = read(chip)
    with pytest.raises(AccessDeniedError, match=ACCESS_DENIED_MESSAGE) as caught:
        reader.read_document(AccessKey("AN1234567", "900101", "351230"))
    assert (caught.value.sw1, caught.value.sw2) == (0x63, 0x00)
    assert 0x82 not in [apdu[1] for apdu in chip.log]
    assert reader.read_document(KEY).access_protocol == "PACE"  # the right key still works


def test_a_pace_only_chip_is_read_by_pace_and_refuses_bac(photo: bytes) -> None:
    chip = chip_for(photo, [pace_info("secp256r1")], bac=False)
    assert read(chip).read_document(KEY).access_protocol == "PACE"
    with pytest.raises(CardError, match="does not offer BAC"):
        read(chip, "sim://?access=bac").read_document(KEY)


def test_a_bac_only_chip_is_still_read_with_bac(photo: bytes) -> None:
    chip = chip_for(photo, None)
    result = read(chip).read_document(KEY)
    assert result.access_protocol == "BAC"
    assert result.access_notes == ["PACE not used: no EF.CardAccess"]
    with pytest.raises(CardError, match="offers no PACE"):
        read(chip, "sim://?access=pace").read_document(KEY)


def test_a_chip_offering_only_a_mapping_the_reader_lacks_is_read_with_bac(photo: bytes) -> None:
    dh = PaceInfo("0.4.0.127.0.7.2.2.4.1.2", 2, 0)
    result = read(chip_for(photo, [dh])).read_document(KEY)
    assert result.access_protocol == "BAC"
    assert "PACE-DH-GM" in result.access_notes[0]


def test_when_pace_itself_breaks_the_reader_falls_back_to_bac(
    photo: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    chip = chip_for(photo, [pace_info()])
    monkeypatch.setattr(chip, "_mse_set_at", lambda command: ResponseAPDU(b"", 0x6A, 0x80))
    result = read(chip).read_document(KEY)
    assert result.access_protocol == "BAC"
    assert "PACE failed" in result.access_notes[0] and "MSE:Set AT" in result.access_notes[0]


def test_with_two_curves_for_one_protocol_the_reader_names_its_choice(photo: bytes) -> None:
    chip = chip_for(photo, [pace_info("brainpoolP384r1"), pace_info("brainpoolP256r1")])
    result = read(chip).read_document(KEY)
    assert "brainpoolP384r1" in result.access_detail
    mse = next(apdu for apdu in chip.log if apdu[1] == 0x22)
    assert mse.endswith(bytes([0x84, 0x01, 16]))  # parameter id 16: brainpoolP384r1


def test_the_sim_url_makes_pace_and_pace_only_chips() -> None:
    reader = card_reader_for_url("sim://?pace=secp256r1:aes256&bac=false")
    result = reader.read_document(KEY)
    assert result.access_detail == "PACE-ECDH-GM-AES-CBC-CMAC-256 on secp256r1"
    with pytest.raises(ValueError, match="needs pace"):
        card_reader_for_url("sim://?bac=false")
    with pytest.raises(ValueError, match="not standardised"):
        card_reader_for_url("sim://?pace=curve25519")
    with pytest.raises(ValueError, match="access=nfc"):
        card_reader_for_url("sim://?access=nfc")


def test_a_pace_document_keeps_its_card_access_out_of_the_sod(
    photo: bytes,
) -> None:
    document: PersonalisedDocument = chip_for(photo, [pace_info()]).document
    assert lds.EF_CARD_ACCESS in document.files
    assert read(SimulatedChip(document)).read_document(KEY).data_groups == [1, 2]
