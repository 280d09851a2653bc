"""BAC and secure messaging against the worked example of ICAO Doc 9303 part 11, appendix D.

Document L898902C<, born 690806, expires 940623; every intermediate value below is the published one.
"""

from __future__ import annotations

import pytest

from drivers.idcard import ACCESS_DENIED_MESSAGE, AccessDeniedError, AccessKey, bac, crypto
from drivers.idcard.apdu import CommandAPDU, ResponseAPDU
from drivers.idcard.protocol import ChipSession
from drivers.idcard.sm import SecureMessaging, SMError

H = bytes.fromhex
KEY = AccessKey("L898902C<", "690806", "940623")
K_ENC = H("AB94FDECF2674FDFB9B391F85D7F76F2")
K_MAC = H("7962D9ECE03D1ACD4C76089DCE131543")
RND_IC = H("4608F91988702212")
RND_IFD = H("781723860C06C226")
K_IFD = H("0B795240CB7049B01C19B33E32804F0B")
K_IC = H("0B4F80323EB3191CB04970CB4052790B")
CMD_DATA = H("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F25F1448EEA8AD90A7")
RESP_DATA = H("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449")
KS_ENC = H("979EC13B1CBFE9DCD01AB0FED307EAE5")
KS_MAC = H("F1CB1F1FB5ADF208806B89DC579DC1F8")
SSC = 0x887022120C06C226

SELECT_COM = H("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
SELECT_ANSWER = H("990290008E08FA855A5D4C50A8ED9000")
READ_HEAD = H("0CB000000D9701048E08ED6705417E96BA5500")
READ_HEAD_ANSWER = H("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000")
READ_REST = H("0CB000040D9701128E082EA28A70F3C7B53500")
READ_REST_ANSWER = H(
    "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000"
)


def fresh_session() -> SecureMessaging:
    return SecureMessaging(KS_ENC, KS_MAC, SSC)


def test_the_document_basic_access_keys_are_derived_from_kseed_with_parity_adjusted() -> None:
    keys = bac.BACKeys.from_seed(KEY.key_seed())
    assert KEY.key_seed() == H("239AB9CB282DAF66231DC5A4DF6BFBAE")
    assert (keys.k_enc, keys.k_mac) == (K_ENC, K_MAC)


def test_the_reader_builds_the_published_mutual_authenticate_cryptogram() -> None:
    keys = bac.BACKeys(K_ENC, K_MAC)
    assert bac.reader_authenticate_data(keys, RND_IC, RND_IFD, K_IFD) == CMD_DATA


def test_the_chip_answers_with_the_published_cryptogram_and_the_reader_recovers_k_ic() -> None:
    keys = bac.BACKeys(K_ENC, K_MAC)
    answer, rnd_ifd, k_ifd, k_ic = bac.chip_answer(keys, CMD_DATA, RND_IC, K_IC)
    assert (answer, rnd_ifd, k_ifd, k_ic) == (RESP_DATA, RND_IFD, K_IFD, K_IC)
    assert bac.reader_check_answer(keys, RESP_DATA, RND_IC, RND_IFD) == K_IC


def test_session_keys_and_send_sequence_counter_match_the_example() -> None:
    session = bac.session(K_IFD, K_IC, RND_IC, RND_IFD)
    assert (session.ks_enc, session.ks_mac, session.ssc) == (KS_ENC, KS_MAC, SSC)


def test_the_retail_mac_is_iso9797_algorithm_3() -> None:
    assert crypto.retail_mac(K_MAC, crypto.pad(CMD_DATA[:32])) == CMD_DATA[32:]


def test_select_ef_com_is_protected_byte_for_byte_as_published() -> None:
    sm = fresh_session()
    protected = sm.protect(CommandAPDU(0x00, 0xA4, 0x02, 0x0C, H("011E")))
    assert protected.to_bytes() == SELECT_COM
    assert sm.unprotect(ResponseAPDU.from_bytes(SELECT_ANSWER)).sw == 0x9000


def test_both_read_binary_commands_and_their_answers_match_the_example() -> None:
    sm = fresh_session()
    sm.protect(CommandAPDU(0x00, 0xA4, 0x02, 0x0C, H("011E")))
    sm.unprotect(ResponseAPDU.from_bytes(SELECT_ANSWER))
    assert sm.protect(CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=4)).to_bytes() == READ_HEAD
    assert sm.unprotect(ResponseAPDU.from_bytes(READ_HEAD_ANSWER)).data == H("60145F01")
    assert sm.protect(CommandAPDU(0x00, 0xB0, 0x00, 0x04, le=0x12)).to_bytes() == READ_REST
    rest = sm.unprotect(ResponseAPDU.from_bytes(READ_REST_ANSWER)).data
    assert rest == H("04303130365F36063034303030305C026175")


def test_the_chip_side_opens_the_published_command_and_seals_the_published_answer() -> None:
    chip = fresh_session()
    plain = chip.open_command(CommandAPDU.from_bytes(SELECT_COM))
    assert (plain.ins, plain.data) == (0xA4, H("011E"))
    assert chip.seal_response(ResponseAPDU(b"", 0x90, 0x00)).to_bytes() == SELECT_ANSWER


def test_a_response_with_a_wrong_mac_is_refused() -> None:
    sm = fresh_session()
    sm.protect(CommandAPDU(0x00, 0xA4, 0x02, 0x0C, H("011E")))
    tampered = bytearray(SELECT_ANSWER)
    tampered[-3] ^= 0x01
    with pytest.raises(SMError, match="MAC"):
        sm.unprotect(ResponseAPDU.from_bytes(bytes(tampered)))


class ScriptedCard:
    """Answers with the published responses and records what the reader sent."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []

    def __call__(self, command: CommandAPDU) -> ResponseAPDU:
        self.sent.append(command.to_bytes())
        return ResponseAPDU.from_bytes(self.answers.pop(0))


def test_the_reader_runs_the_whole_worked_example_from_get_challenge_to_ef_com() -> None:
    card = ScriptedCard(
        [
            RND_IC + H("9000"),
            RESP_DATA + H("9000"),
            SELECT_ANSWER,
            READ_HEAD_ANSWER,
            READ_REST_ANSWER,
        ]
    )
    session = ChipSession(card)
    session.authenticate_bac(KEY, rnd_ifd=RND_IFD, k_ifd=K_IFD)
    assert session.read_file(0x011E) == H("60145F0104303130365F36063034303030305C026175")
    assert card.sent == [
        H("0084000008"),
        H("0082000028") + CMD_DATA + H("28"),
        SELECT_COM,
        READ_HEAD,
        READ_REST,
    ]


def test_the_chip_refusing_the_cryptogram_means_access_denied_with_a_hint_for_the_operator() -> (
    None
):
    card = ScriptedCard([RND_IC + H("9000"), H("6300")])
    with pytest.raises(AccessDeniedError) as caught:
        ChipSession(card).authenticate_bac(KEY)
    assert ACCESS_DENIED_MESSAGE in str(caught.value)
    assert (caught.value.sw1, caught.value.sw2) == (0x63, 0x00)
    assert caught.value.code == "card_access_denied"


def test_short_and_extended_apdus_encode_and_decode_alike() -> None:
    short = CommandAPDU(0x00, 0xB0, 0x01, 0x02, le=256)
    assert short.to_bytes() == H("00B0010200")
    extended = CommandAPDU(0x00, 0xB0, 0x01, 0x02, le=4000, extended=True)
    assert extended.to_bytes() == H("00B00102000FA0")
    with_data = CommandAPDU(0x00, 0xA4, 0x04, 0x0C, bytes(300))
    for command in (short, extended, with_data):
        assert CommandAPDU.from_bytes(command.to_bytes()).to_bytes() == command.to_bytes()


@pytest.mark.parametrize("cipher", ["3DES", "AES"])
def test_odd_ins_data_travels_in_do85_both_ways(cipher: str) -> None:
    size = 16 if cipher == "AES" else 8
    reader = SecureMessaging(KS_ENC[:size] if cipher == "AES" else KS_ENC, KS_MAC, 5, cipher)
    chip = SecureMessaging(reader.ks_enc, reader.ks_mac, 5, cipher)
    command = CommandAPDU(0x00, 0xB1, 0x00, 0x00, H("54030186A0"), le=223)
    wrapped = reader.protect(command)
    assert wrapped.data[0] == 0x85 and H("54030186A0") not in wrapped.data
    assert chip.open_command(wrapped) == CommandAPDU(0x00, 0xB1, 0x00, 0x00, H("54030186A0"), 223)
    sealed = chip.seal_response(ResponseAPDU(H("5303AABBCC"), 0x90, 0x00), odd_ins=True)
    assert sealed.data[0] == 0x85
    assert reader.unprotect(sealed) == ResponseAPDU(H("5303AABBCC"), 0x90, 0x00)
