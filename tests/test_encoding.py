import os

import opencc
import pytest

from transforms.ingest.encoding import DecodeError, decode_bytes

TEXT = "第一回 宴桃园豪杰三结义\n话说天下大势，分久必合，合久必分。“你好！”他说道。\n" * 30


@pytest.mark.parametrize(
    "codec, expected",
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gb18030", "gb18030"),
        ("utf-16", "utf-16-le"),  # Python's utf-16 writes a little-endian BOM
        ("utf-16-le", "utf-16-le"),  # no BOM
        ("utf-16-be", "utf-16-be"),  # no BOM
    ],
)
def test_each_encoding_decodes_to_the_same_text(codec, expected):
    decoded = decode_bytes(TEXT.encode(codec))
    assert decoded.encoding == expected
    assert decoded.text == TEXT


def test_utf16_be_with_bom():
    decoded = decode_bytes(b"\xfe\xff" + TEXT.encode("utf-16-be"))
    assert (decoded.encoding, decoded.text) == ("utf-16-be", TEXT)


def test_big5_traditional_text():
    traditional = opencc.OpenCC("s2t").convert(TEXT)
    decoded = decode_bytes(traditional.encode("big5"))
    assert decoded.encoding == "big5"
    assert decoded.text == traditional


def test_gb18030_user_defined_area_bytes_decode():
    # 0xAAA1 lies in GB18030's user-defined area (maps to a private-use code point): still GB18030 text.
    data = TEXT.encode("gb18030") + b"\xaa\xa1" + "完。".encode("gb18030")
    decoded = decode_bytes(data)
    assert decoded.encoding == "gb18030"
    assert decoded.text.startswith(TEXT)


def test_crlf_and_cr_become_lf():
    decoded = decode_bytes("第一行\r\n第二行\r第三行，足够长的中文文本。".encode("utf-8"))
    assert decoded.text == "第一行\n第二行\n第三行，足够长的中文文本。"


def test_empty_and_whitespace_are_rejected():
    for data in (b"", b"  \n\r\n\t"):
        with pytest.raises(DecodeError) as e:
            decode_bytes(data)
        assert e.value.reason == "empty"


def test_binary_is_rejected():
    data = bytes(range(256)) * 20
    with pytest.raises(DecodeError) as e:
        decode_bytes(data)
    assert e.value.reason == "binary"


def test_random_bytes_never_pass_as_text():
    for _ in range(5):
        data = os.urandom(4096)
        with pytest.raises(DecodeError):
            decode_bytes(data)


def test_too_many_undecodable_bytes_rejected_but_a_few_tolerated():
    good = TEXT.encode("utf-8")
    few = good + b"\xff" + good * 3  # one bad byte in ~3000 chars
    assert decode_bytes(few).encoding == "utf-8"
    many = b"\xff\xfe\xfd".join([good[:50]] * 40)
    with pytest.raises(DecodeError) as e:
        decode_bytes(many, max_replacement_ratio=0.001)
    assert e.value.reason == "undecodable"


def test_existing_replacement_characters_in_valid_utf8_are_not_counted():
    text = TEXT + "\ufffd" * 50
    assert decode_bytes(text.encode("utf-8")).text == text
