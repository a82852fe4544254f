"""Cleaning and summarising: clean sentences about the article, never debris or the title."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from bot.extract import document_text, extract_main_text
from bot.summarize import cut_at_word, is_real_sapo, summarize
from bot.text import clean_article_text, strip_outlet_tag

# A scraped local-news page written for these tests, with the debris real scrapes carry: a lone
# "-", an image stub ".jpg)" and its caption, and the site's other headlines glued on at the end.
# The same checks on a real page (../shared/samples) are in test_real_samples.py.
SCRAPE = (ROOT / "tests" / "data" / "pages" / "scrape_noise.txt").read_text(encoding="utf-8")
SCRAPE_TITLE = "Tam Đường tổng kết 5 năm phát triển chè búp tươi"


def test_scrape_summary_is_about_the_conference() -> None:
    summary = summarize(SCRAPE, title=SCRAPE_TITLE)
    assert "Hội nghị tổng kết 5 năm" in summary
    assert "35/2019/NQ-HĐND" in summary
    assert ".jpg" not in summary
    assert "(TĐ)" not in summary
    for headline in ("Hoa Đào", "gieo mạ", "ra quân", "50 suất quà", "Tuổi trẻ biên giới"):
        assert headline not in summary
    assert len(summary) <= 280
    assert summary.endswith((".", "…"))


def test_scrape_cleaning_keeps_the_article_only() -> None:
    cleaned = clean_article_text(SCRAPE)
    assert cleaned.startswith("(TĐ) - Sáng 14/3")
    assert cleaned.endswith("5 năm thực hiện Nghị quyết số 35 của HĐND huyện.")
    assert ".jpg)" not in cleaned
    assert "Lò Văn Thành" not in cleaned  # the caption under the image
    assert "Nông dân vùng cao" not in cleaned


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (
            "Mưa lớn gây ngập nặng.\nẢnh: TTXVN\nNước rút chậm.",
            "Mưa lớn gây ngập nặng.\nNước rút chậm.",
        ),
        ("Cầu mới thông xe (Ảnh minh họa).", "Cầu mới thông xe."),
        ("Cầu mới thông xe (Ảnh: Hoàng Hà).\n", "Cầu mới thông xe."),
        ("Giá xăng giảm.\n-\n…\nGiá dầu tăng.", "Giá xăng giảm.\nGiá dầu tăng."),
        ("Giá xăng giảm.\nXem thêm: Giá xăng hôm nay\nGiá vàng hôm nay", "Giá xăng giảm."),
        ("Đội tuyển thắng 2-0.\nTin liên quan\nHLV Kim Sang-sik nói gì", "Đội tuyển thắng 2-0."),
        ("Lũ rút.\nVideo đang được xem nhiều\nClip bão", "Lũ rút."),
        ("Lũ rút dần.\nTheo TTXVN", "Lũ rút dần."),
        ("Lũ rút dần.\nThu Hà - Minh Anh", "Lũ rút dần."),
        ("Lũ rút dần.\nxa-lu-1.jpg)\nCửa xả đáy mở lúc 10h.\nNước lên.", "Lũ rút dần.\nNước lên."),
        ("Bão vào bờ.\nNgư dân trắng đêm giữ tàu\nGiá rau tăng mạnh sau bão", "Bão vào bờ."),
        ("Một câu không có dấu chấm cuối", "Một câu không có dấu chấm cuối"),
    ],
)
def test_debris_is_dropped(raw: str, kept: str) -> None:
    assert clean_article_text(raw) == kept


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(BLC) - Chiều 23/6, hội nghị khai mạc.", "Chiều 23/6, hội nghị khai mạc."),
        ("TTO - Sáng nay, giá vàng tăng.", "Sáng nay, giá vàng tăng."),
        ("(Dân trí) - Bão số 3 suy yếu.", "Bão số 3 suy yếu."),
        ("VOV.VN - Quốc hội khai mạc kỳ họp.", "Quốc hội khai mạc kỳ họp."),
        ("Hà Nội - Hải Phòng thông tuyến cao tốc.", "Hà Nội - Hải Phòng thông tuyến cao tốc."),
    ],
)
def test_outlet_tag_is_stripped(text: str, expected: str) -> None:
    assert strip_outlet_tag(text) == expected


ARTICLE = (
    "Sáng 27/11, Quốc hội biểu quyết thông qua Luật Đường sắt (sửa đổi) với 92% đại biểu "
    "tán thành. Luật có hiệu lực từ ngày 1/1/2027. Theo luật mới, Nhà nước ưu tiên bố trí "
    "vốn cho đường sắt tốc độ cao trên trục Bắc - Nam. Các đại biểu cũng thảo luận về cơ chế "
    "huy động vốn tư nhân cho đường sắt đô thị tại Hà Nội và TP.HCM. "
    "Phiên họp kết thúc lúc 11h30."
)
TITLE = "Quốc hội thông qua Luật Đường sắt sửa đổi"


def test_summary_is_whole_sentences_within_the_limits() -> None:
    summary = summarize(ARTICLE, title=TITLE)
    assert summary.startswith("Sáng 27/11, Quốc hội biểu quyết thông qua Luật Đường sắt")
    assert len(summary) <= 280
    assert summary.endswith(".")
    assert summary.count(". ") <= 1  # at most two sentences


@pytest.mark.parametrize(("sentences", "chars"), [(1, 280), (2, 120), (3, 600), (5, 1000)])
def test_summary_respects_channel_settings(sentences: int, chars: int) -> None:
    summary = summarize(ARTICLE, title=TITLE, max_sentences=sentences, max_chars=chars)
    assert 0 < len(summary) <= chars
    assert summary.endswith((".", "…"))
    if not summary.endswith("…"):
        assert summary.count(". ") + 1 <= sentences


def test_a_long_sentence_is_cut_at_a_word_with_an_ellipsis() -> None:
    sentence = (
        "Các tỉnh " + ", ".join(["Quảng Ninh", "Hải Phòng", "Thái Bình", "Nam Định"] * 12) + "."
    )
    summary = summarize(sentence, title="Mưa bão", max_chars=100)
    assert summary.endswith("…")
    assert len(summary) <= 100
    assert sentence.startswith(summary.removesuffix("…"))
    assert not summary.removesuffix("…").endswith((" ", ","))


def test_summary_never_repeats_the_title() -> None:
    assert summarize(TITLE + ".", title=TITLE) == ""
    assert summarize(TITLE.upper(), title=TITLE) == ""
    assert TITLE not in summarize(TITLE + ". " + ARTICLE, title=TITLE)


def test_cut_at_word() -> None:
    assert cut_at_word("Hà Nội mưa lớn", 100) == "Hà Nội mưa lớn"
    assert cut_at_word("Hà Nội mưa lớn kéo dài", 12) == "Hà Nội mưa…"


@pytest.mark.parametrize(
    ("sapo", "real"),
    [
        ("Đại diện cơ quan công tố đề nghị mức án tử hình với bị cáo vì tội tham ô.", True),
        ("Xem chi tiết", False),
        ("", False),
        ("Giá vàng hôm nay", False),
        ("Quốc hội thông qua Luật Đường sắt sửa đổi", False),  # the title again
    ],
)
def test_real_sapo(sapo: str, real: bool) -> None:
    assert is_real_sapo(sapo, TITLE) is real


PAGE = """<!doctype html><html><head><title>Quốc hội thông qua luật</title></head><body>
<nav><a href="/">Trang chủ</a> | <a href="/thoi-su">Thời sự</a></nav>
<article><h1>Quốc hội thông qua Luật Đường sắt sửa đổi</h1>
<p>Sáng 27/11, Quốc hội biểu quyết thông qua Luật Đường sắt (sửa đổi)
với 92% đại biểu tán thành.</p>
<p>Theo luật mới, Nhà nước ưu tiên bố trí vốn cho đường sắt tốc độ cao trên trục Bắc - Nam.</p>
<figure><img src="a.jpg"><figcaption>Ảnh: Quang Vinh</figcaption></figure>
<p>Các đại biểu thảo luận về cơ chế huy động vốn tư nhân cho đường sắt đô thị.</p></article>
<aside><h3>Tin liên quan</h3><ul><li>Giá vàng hôm nay</li></ul></aside>
<footer>© Báo Điện tử</footer></body></html>"""


def test_page_extraction_keeps_the_article() -> None:
    text = extract_main_text(PAGE)
    assert "92% đại biểu tán thành" in text
    assert "Trang chủ" not in text and "© Báo" not in text
    assert document_text(PAGE) == text


def test_document_text_of_fragment_and_plain_text() -> None:
    assert document_text("<p>Một.</p><p>Hai.</p>") == "Một.\nHai."
    assert document_text("Ba.") == "Ba."


def run_summarize(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "summarize", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_summarize_file_and_stdin(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text(PAGE, encoding="utf-8")
    from_file = run_summarize(str(page), "--title", TITLE)
    assert from_file.returncode == 0, from_file.stderr
    assert "92% đại biểu tán thành" in from_file.stdout
    from_stdin = run_summarize("-", stdin=SCRAPE)
    assert "Hội nghị tổng kết 5 năm" in from_stdin.stdout
    assert ".jpg" not in from_stdin.stdout


def test_cli_summarize_jsonl_keeps_order(tmp_path: Path) -> None:
    lines = [
        {"title": TITLE, "text": ARTICLE},
        {"title": "", "text": ""},
        {"title": SCRAPE_TITLE, "text": SCRAPE},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), encoding="utf-8")
    done = run_summarize(str(source), "--jsonl")
    assert done.returncode == 0, done.stderr
    out = [json.loads(line)["summary"] for line in done.stdout.splitlines()]
    assert len(out) == 3
    assert out[0].startswith("Sáng 27/11, Quốc hội")
    assert out[1] == ""
    assert "Hội nghị tổng kết" in out[2]
