"""The ZFM/R30x packet codec, on bytes alone: framing, checksum, stream decoding, 4-bit pixels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from drivers.fingerprint.errors import CorruptPacketError
from drivers.fingerprint.protocol import (
    Command,
    Packet,
    PacketId,
    StreamDecoder,
    SystemParameters,
    baud_multiplier,
    command,
    data_packets,
    decode,
    encode,
    pack_4bit,
    parse_ack,
    quantise_4bit,
    unpack_4bit,
)

pids = st.sampled_from([int(pid) for pid in PacketId])
addresses = st.integers(min_value=0, max_value=0xFFFFFFFF)
packets = st.builds(Packet, pid=pids, payload=st.binary(max_size=256), address=addresses)


def test_known_command_frames_match_the_datasheet_bytes() -> None:
    # GenImg and VfyPwd(0) to the default address, as printed in the R30x manuals.
    assert encode(command(Command.GEN_IMG)).hex() == "ef01ffffffff010003010005"
    assert (
        encode(command(Command.VFY_PWD, bytes(4))).hex() == "ef01ffffffff010007130000000000" + "1b"
    )


@given(packets)
def test_decoding_an_encoded_packet_gives_it_back(packet: Packet) -> None:
    assert decode(encode(packet), packet.address) == packet


@given(packets)
def test_the_checksum_is_the_16_bit_sum_of_id_length_and_payload(packet: Packet) -> None:
    frame = encode(packet)
    covered = frame[6:-2]  # packet id, 2 length bytes, payload
    assert int.from_bytes(frame[-2:], "big") == sum(covered) % 65536
    assert int.from_bytes(frame[7:9], "big") == len(packet.payload) + 2


@given(packets, st.data())
def test_any_single_corrupted_byte_is_detected(packet: Packet, data: st.DataObject) -> None:
    frame = bytearray(encode(packet))
    index = data.draw(st.integers(min_value=0, max_value=len(frame) - 1))
    value = data.draw(st.integers(min_value=0, max_value=255).filter(lambda v: v != frame[index]))
    frame[index] = value
    with pytest.raises(CorruptPacketError):
        decode(bytes(frame), packet.address)


@given(packets, st.data())
def test_any_single_flipped_bit_is_detected(packet: Packet, data: st.DataObject) -> None:
    frame = bytearray(encode(packet))
    bit = data.draw(st.integers(min_value=0, max_value=len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CorruptPacketError):
        decode(bytes(frame), packet.address)


@given(packets, st.integers(min_value=1, max_value=11))
def test_a_truncated_packet_is_detected(packet: Packet, cut: int) -> None:
    with pytest.raises(CorruptPacketError):
        decode(encode(packet)[:-cut], packet.address)


def test_the_sum_cannot_see_two_payload_bytes_swapped_a_known_weakness_of_the_format() -> None:
    frame = bytearray(encode(Packet(PacketId.DATA, b"\x01\x02")))
    frame[9], frame[10] = frame[10], frame[9]
    assert decode(bytes(frame)).payload == b"\x02\x01"


noise = st.binary(max_size=64).map(lambda b: bytes(x for x in b if x != 0xEF))


@given(
    st.lists(st.tuples(noise, packets.map(lambda p: Packet(p.pid, p.payload))), max_size=5),
    st.integers(min_value=1, max_value=50),
)
def test_the_stream_decoder_finds_packets_between_line_noise_in_any_chunking(
    items: list[tuple[bytes, Packet]], chunk: int
) -> None:
    stream = b"".join(junk + encode(packet) for junk, packet in items)
    decoder = StreamDecoder(address=0xFFFFFFFF)
    found = []
    for start in range(0, len(stream), chunk):
        decoder.feed(stream[start : start + chunk])
        while (packet := decoder.next_packet()) is not None:
            found.append(packet)
    assert found == [packet for _, packet in items]
    assert decoder.discarded == sum(len(junk) for junk, _ in items)


def test_the_stream_decoder_reports_a_corrupted_packet_and_goes_on_with_the_next() -> None:
    bad = bytearray(encode(Packet(PacketId.DATA, b"abc")))
    bad[-1] ^= 0xFF
    good = Packet(PacketId.END, b"xyz")
    decoder = StreamDecoder()
    decoder.feed(bytes(bad) + encode(good))
    with pytest.raises(CorruptPacketError, match="checksum"):
        decoder.next_packet()
    assert decoder.next_packet() == good


def test_the_stream_decoder_ignores_packets_for_another_address() -> None:
    decoder = StreamDecoder(address=0xFFFFFFFF)
    mine = Packet(PacketId.ACK, b"\x00")
    decoder.feed(encode(Packet(PacketId.ACK, b"\x00", address=1)) + encode(mine))
    assert decoder.next_packet() == mine


def test_an_acknowledgement_parses_into_confirmation_code_and_data() -> None:
    parsed = parse_ack(Packet(PacketId.ACK, b"\x00\x12\x34"))
    assert (parsed.ok, parsed.code, parsed.data) == (True, 0, b"\x12\x34")
    with pytest.raises(CorruptPacketError, match="expected an acknowledgement"):
        parse_ack(Packet(PacketId.DATA, b"\x00"))


even_images = st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
    lambda hw: arrays(np.uint8, (hw[0], hw[1] * 2))
)


@given(even_images)
def test_4_bit_packing_keeps_the_top_4_bits_of_every_pixel(pixels: np.ndarray) -> None:
    height, width = pixels.shape
    data = pack_4bit(pixels)
    assert len(data) == width * height // 2
    restored = unpack_4bit(data, width, height)
    assert np.array_equal(restored, quantise_4bit(pixels))
    assert np.array_equal(restored >> 4, pixels >> 4)


def test_the_left_pixel_travels_in_the_high_nibble_and_15_becomes_white() -> None:
    assert pack_4bit(np.array([[0xF0, 0x10]], dtype=np.uint8)) == b"\xf1"
    assert unpack_4bit(b"\xf1", 2, 1).tolist() == [[255, 17]]


def test_unpacking_the_wrong_number_of_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        unpack_4bit(b"\x00" * 10, 4, 4)


@given(st.binary(max_size=2000), st.sampled_from([32, 64, 128, 256]))
def test_a_transfer_splits_into_data_packets_ended_by_an_end_packet(data: bytes, size: int) -> None:
    parts = data_packets(data, size)
    assert b"".join(p.payload for p in parts) == data
    assert [p.pid for p in parts] == [PacketId.DATA] * (len(parts) - 1) + [PacketId.END]
    assert all(len(p.payload) <= size for p in parts)


def test_system_parameters_round_trip_and_give_baud_rate_and_packet_size() -> None:
    params = SystemParameters(4, 0, 1000, 3, 0xFFFFFFFF, 2, 6)
    assert SystemParameters.unpack(params.pack()) == params
    assert (params.baudrate, params.packet_size) == (57600, 128)


@pytest.mark.parametrize("baudrate", [0, 100000, 9600 * 13])
def test_a_baud_rate_the_module_cannot_run_at_is_refused(baudrate: int) -> None:
    with pytest.raises(ValueError, match="9600 x N"):
        baud_multiplier(baudrate)
