"""OPML import and export: the admin's config survives, the feeds arrive, the file reads back."""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import listparser
import pytest
from conftest import FEEDS, ROOT

from bot.errors import BantinError
from bot.opml import (
    DUPLICATE,
    NO_FEED_URL,
    NOT_A_FEED,
    NOT_HTTP,
    ImportReport,
    OpmlError,
    export_opml,
    feed_slug,
    import_opml,
    normalize_feed_url,
)
from bot.settings import FeedConfig, Settings, load_settings

OPML = ROOT / "tests" / "data" / "opml"
ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"

# Comments, odd spacing and a [[channels]] table after the feeds, as an admin writes them.
CONFIG = """\
# Bản tin — cấu hình của toà soạn
# (mọi chú thích phải còn nguyên sau khi nhập OPML)

[bot]
timezone = "Asia/Ho_Chi_Minh"   # giờ Việt Nam
admins   = [123456789]

[[feeds]]
id = "vnexpress"            # tin mới nhất
name = "VnExpress"
url = "https://vnexpress.net/rss/tin-moi-nhat.rss"
category = "Thời sự"

# Kênh chính: bản tin sáng
[[channels]]
chat = "@bantin_demo"
schedule = ["07:00"]
feeds = ["vnexpress"]
"""


def opml(*outlines: str) -> bytes:
    body = "\n".join(outlines)
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><body>'
    return f"{head}\n{body}\n</body></opml>".encode()


def feed(title: str, url: str) -> str:
    return f'<outline type="rss" text="{title}" title="{title}" xmlUrl="{url}"/>'


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "bot.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings({}, str(path))


def new_feeds(old: str, new: str) -> list[dict[str, str]]:
    tables: list[dict[str, str]] = tomllib.loads(new)["feeds"]
    return tables[len(tomllib.loads(old)["feeds"]) :]


def import_fixture(category: str | None = None) -> tuple[str, ImportReport]:
    return import_opml(CONFIG, (OPML / "inoreader.opml").read_bytes(), category=category)


# --- the config file -----------------------------------------------------------------------


def test_the_original_text_is_kept_byte_for_byte() -> None:
    new, _ = import_fixture()
    assert new.startswith(CONFIG)
    assert len(new) > len(CONFIG)


def test_each_new_table_follows_a_blank_line() -> None:
    new, report = import_fixture()
    lines = new[len(CONFIG) :].split("\n")
    starts = [i for i, line in enumerate(lines) if line == "[[feeds]]"]
    assert len(starts) == len(report.added)
    assert all(lines[i - 1] == "" for i in starts)
    assert lines[-1] == ""  # the file still ends with a newline


@pytest.mark.parametrize(
    ("ending", "gap"), [("", "\n\n"), ("\n", "\n"), ("\n\n", ""), ("\n\n\n", "")]
)
def test_one_blank_line_whatever_the_file_ends_with(ending: str, gap: str) -> None:
    config = CONFIG.rstrip("\n") + ending
    new, _ = import_opml(config, opml(feed("VOV", "https://vov.vn/rss/tin-moi-nhat.rss")))
    assert new == config + gap + new[len(config + gap) :]
    assert new[len(config + gap) :].startswith("[[feeds]]\n")


def test_windows_line_endings_stay_windows_line_endings() -> None:
    config = CONFIG.replace("\n", "\r\n")
    new, _ = import_opml(config, opml(feed("VOV", "https://vov.vn/rss/tin-moi-nhat.rss")))
    assert new.startswith(config)
    assert "\n" not in new.replace("\r\n", "")
    assert new_feeds(config, new)[0]["name"] == "VOV"


def test_the_result_loads_with_settings(tmp_path: Path) -> None:
    new, report = import_fixture()
    settings = load(tmp_path, new)
    assert [f.id for f in settings.feeds[1:]] == [feed_id for feed_id, _ in report.added]
    assert settings.channels[0].feeds == ("vnexpress",)  # channels are untouched


def test_importing_twice_changes_nothing_the_second_time() -> None:
    once, _ = import_fixture()
    twice, report = import_opml(once, (OPML / "inoreader.opml").read_bytes())
    assert twice == once
    assert report.added == ()
    assert all(
        "already configured" in why or why in (DUPLICATE, NO_FEED_URL) for _, why in report.skipped
    )


def test_nothing_to_add_returns_the_same_text() -> None:
    new, report = import_opml(
        CONFIG, opml(feed("VnExpress", "https://vnexpress.net/rss/tin-moi-nhat.rss/"))
    )
    assert new is CONFIG
    assert report.skipped == (
        ("https://vnexpress.net/rss/tin-moi-nhat.rss/", "already configured as feed 'vnexpress'"),
    )


def test_a_config_without_feeds_gets_its_first(tmp_path: Path) -> None:
    config = '[bot]\ntimezone = "Asia/Ho_Chi_Minh"\n'
    new, _ = import_opml(config, opml(feed("VOV", "https://vov.vn/rss/tin-moi-nhat.rss")))
    assert [f.id for f in load(tmp_path, new).feeds] == ["vov"]


def test_inline_feeds_cannot_be_appended_to() -> None:
    config = 'feeds = [{ id = "a", name = "A", url = "https://a.vn/rss" }]\n'
    with pytest.raises(OpmlError, match=r"\[\[feeds\]\] tables"):
        import_opml(config, opml(feed("VOV", "https://vov.vn/rss")))


def test_a_broken_config_is_an_opml_error_not_a_crash() -> None:
    with pytest.raises(OpmlError, match="config: not valid TOML"):
        import_opml("[[feeds]\nid = 1\n", opml(feed("VOV", "https://vov.vn/rss")))


# --- what is added, and how --------------------------------------------------------------------


def test_the_fixture_adds_the_new_feeds_in_document_order() -> None:
    new, report = import_fixture()
    tables = new_feeds(CONFIG, new)
    assert [(t["id"], t.get("category")) for t in tables] == [
        ("tuoi-tre-online-tin-moi-nhat", "Thời sự"),
        ("thanh-nien-thoi-su", "Thời sự"),
        ("bao-dan-tri-xa-hoi", "Thời sự"),
        ("vietnamplus-chinh-tri", "Thời sự"),
        ("vnexpress-kinh-doanh", "Kinh doanh"),
        ("znews-tai-chinh-chung-khoan", "Kinh doanh/Chứng khoán"),
        ("bao-dien-tu-vov", None),  # outside every folder
    ]
    assert [t["name"] for t in tables] == [
        "Tuổi Trẻ Online - Tin mới nhất",
        "Thanh Niên - Thời sự",
        "Báo Dân trí - Xã hội",
        "VietnamPlus - Chính trị",
        "VnExpress - Kinh doanh",
        "Znews - Tài chính & Chứng khoán",
        "Báo Điện tử VOV",
    ]
    assert report.added == tuple((t["id"], t["url"]) for t in tables)
    assert report.added[-1] == ("bao-dien-tu-vov", "https://vov.vn/rss/tin-moi-nhat.rss")


def test_the_fixture_skips_with_reasons() -> None:
    _, report = import_fixture()
    assert report.skipped == (
        ("https://VnExpress.net/rss/tin-moi-nhat.rss", "already configured as feed 'vnexpress'"),
        ("https://tuoitre.vn/rss/tin-moi-nhat.rss", DUPLICATE),  # the copy in "Đọc sau"
        ("https://laodong.vn/", NO_FEED_URL),
    )


def test_category_option_replaces_the_folders() -> None:
    new, _ = import_fixture(category="  Nhập từ Inoreader ")
    assert {t.get("category") for t in new_feeds(CONFIG, new)} == {"Nhập từ Inoreader"}


def test_an_empty_category_option_leaves_feeds_without_one() -> None:
    new, _ = import_fixture(category="")
    assert all("category" not in t for t in new_feeds(CONFIG, new))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("feed://vov.vn/rss/tin-moi-nhat.rss", NOT_HTTP),
        ("file:///home/minh/tin.rss", NOT_HTTP),
        ("https:///rss/no-host.rss", NOT_HTTP),
        ("javascript:alert(1)", NOT_HTTP),
        ("https://VNEXPRESS.net/rss/tin-moi-nhat.rss/", "already configured as feed 'vnexpress'"),
    ],
)
def test_skipped_urls(url: str, why: str) -> None:
    new, report = import_opml(CONFIG, opml(feed("Tin", url)))
    assert report == ImportReport(added=(), skipped=((url, why),))
    assert new == CONFIG


def test_duplicates_in_the_opml_exact_or_normalised() -> None:
    outlines = [
        feed("Dân trí", "https://dantri.com.vn/rss/home.rss"),
        feed("Dân trí", "https://dantri.com.vn/rss/home.rss"),  # listparser merges these two
        feed("Dân trí (bản sao)", "HTTPS://DanTri.com.vn/rss/home.rss/"),
    ]
    _, report = import_opml(CONFIG, opml(*outlines))
    assert report.added == (("dan-tri", "https://dantri.com.vn/rss/home.rss"),)
    assert [why for _, why in report.skipped] == [DUPLICATE, DUPLICATE]


def test_links_to_other_lists_and_empty_folders() -> None:
    outlines = [
        '<outline type="link" text="Danh sách khác" url="https://example.vn/khac.opml"/>',
        '<outline text="Thư mục trống" title="Thư mục trống"/>',  # a folder: nothing to say
        '<outline text="Trang" htmlUrl="https://laodong.vn/" xmlUrl=""/>',
    ]
    _, report = import_opml(CONFIG, opml(*outlines))
    assert report.skipped == (
        ("https://example.vn/khac.opml", NOT_A_FEED),
        ("https://laodong.vn/", NO_FEED_URL),
    )


def test_ids_are_unique_against_the_config_and_each_other(tmp_path: Path) -> None:
    outlines = [feed("VnExpress", f"https://vnexpress.net/rss/{n}.rss") for n in range(3)]
    new, report = import_opml(CONFIG, opml(*outlines))
    assert [feed_id for feed_id, _ in report.added] == ["vnexpress-2", "vnexpress-3", "vnexpress-4"]
    load(tmp_path, new)  # no duplicate-id problem


def test_long_titles_give_short_valid_ids_and_names(tmp_path: Path) -> None:
    title = "Báo Điện tử Đài Tiếng nói Việt Nam - Thời sự trong nước và quốc tế hôm nay " * 2
    outlines = [feed(title, f"https://vov.vn/rss/{n}.rss") for n in range(12)]
    new, report = import_opml(CONFIG, opml(*outlines))
    ids = [feed_id for feed_id, _ in report.added]
    assert len(set(ids)) == 12
    assert all(len(feed_id) <= 40 for feed_id in ids)
    assert ids[0] == "bao-dien-tu-dai-tieng-noi-viet"
    assert ids[11] == "bao-dien-tu-dai-tieng-noi-viet-12"
    assert all(len(t["name"]) <= 80 for t in new_feeds(CONFIG, new))
    load(tmp_path, new)


def test_a_feed_without_a_title_is_named_after_its_host() -> None:
    new, report = import_opml(
        CONFIG, opml('<outline type="rss" xmlUrl="https://www.baomoi.com/rss"/>')
    )
    assert report.added == (("baomoi-com", "https://www.baomoi.com/rss"),)
    assert new_feeds(CONFIG, new)[0]["name"] == "baomoi.com"


def test_quotes_backslashes_and_control_characters_in_titles(tmp_path: Path) -> None:
    title = "Tin &quot;nóng&quot; \\ mới&#10;nhất &lt;b&gt;"
    new, _ = import_opml(CONFIG, opml(feed(title, "https://a.vn/rss")))
    assert load(tmp_path, new).feeds[-1].name == 'Tin "nóng" \\ mới nhất <b>'


@pytest.mark.parametrize(
    ("name", "url", "slug"),
    [
        ("Tuổi Trẻ", "", "tuoi-tre"),
        ("Báo Điện tử VOV", "", "bao-dien-tu-vov"),
        ("ĐÀ NẴNG 24h", "", "da-nang-24h"),
        ("Thu\u0309y đie\u0323\u0302n", "", "thuy-dien"),  # NFD, as some CMSs write it
        ("Zing & Znews!!", "", "zing-znews"),
        ("新闻", "https://www.vietnamplus.vn/rss/cn.rss", "vietnamplus-vn"),
        ("", "https://vov.vn/rss", "vov-vn"),
        ("***", "", "feed"),
    ],
)
def test_feed_slug(name: str, url: str, slug: str) -> None:
    assert feed_slug(name, url) == slug


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        (
            "HTTPS://VnExpress.NET/rss/tin-moi-nhat.rss",
            "https://vnexpress.net/rss/tin-moi-nhat.rss",
        ),
        ("https://tuoitre.vn/rss/", "https://tuoitre.vn/rss"),
        ("https://tuoitre.vn/", "https://tuoitre.vn"),
        (
            "  https://a.vn/Rss/Home.RSS?Cat=X  ",
            "https://a.vn/Rss/Home.RSS?Cat=X",
        ),  # path case kept
        ("tests/data/feeds/tuoitre.rss", "tests/data/feeds/tuoitre.rss"),
    ],
)
def test_normalize_feed_url(url: str, normal: str) -> None:
    assert normalize_feed_url(url) == normal


# --- reading the OPML --------------------------------------------------------------------------


def test_a_truncated_file_is_an_error_naming_the_place() -> None:
    data = (OPML / "truncated.opml").read_bytes()
    with pytest.raises(OpmlError, match=r"not well-formed XML: unclosed token: line 22"):
        import_opml(CONFIG, data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not well-formed XML"),
        (b"<html><body><p>404</p></body></html>", "the root element is <html>"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>', "the root element is <rss>"),
        (
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">]><opml><body/></opml>',
            "entity declarations are not allowed",
        ),
        (b'<?xml version="1.0"?><opml><body><outline text="\xff"/></body></opml>', "cannot decode"),
        (b'<?xml version="1.0" encoding="x-nope"?><opml/>', "cannot decode the file as x-nope"),
    ],
)
def test_not_opml(data: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=message) as caught:
        import_opml(CONFIG, data)
    assert isinstance(caught.value, BantinError)


TITLE = "Th\u01a1\u0300i s\u01b0\u0323"  # "Thời sự" as windows-1258 spells it: base + tone


@pytest.mark.parametrize(
    "data",
    [
        # Without a declaration lxml's HTML parser (under listparser) would guess Latin-1.
        f'<opml version="2.0"><body>{feed("Thời sự", "https://a.vn/rss")}</body></opml>'.encode(),
        b"\xef\xbb\xbf" + opml(feed("Thời sự", "https://a.vn/rss")),
        '<?xml version="1.0" encoding="windows-1258"?>\n<opml version="2.0"><body>'
        f"{feed(TITLE, 'https://a.vn/rss')}</body></opml>".encode("cp1258"),
        "\ufeff" + opml(feed("Thời sự", "https://a.vn/rss")).decode().replace("UTF-8", "UTF-16"),
        opml(feed("Thời sự", "https://a.vn/rss")).decode("utf-8").encode("utf-16"),
    ],
    ids=["utf8-undeclared", "utf8-bom", "windows-1258", "str", "utf16-bom"],
)
def test_encodings(data: bytes | str) -> None:
    new, report = import_opml(CONFIG, data)
    assert report.added == (("thoi-su", "https://a.vn/rss"),)
    assert new_feeds(CONFIG, new)[0]["name"] == "Thời sự"


def test_a_str_that_looks_like_a_url_is_not_fetched() -> None:
    # listparser.parse("http://…") downloads; the tests' loopback guard would fail loudly.
    with pytest.raises(OpmlError, match="not well-formed"):
        import_opml(CONFIG, "https://example.vn/subscriptions.opml")


# --- export ------------------------------------------------------------------------------------

WHEN = datetime(2026, 11, 14, 1, 30, tzinfo=UTC)


def shipped_feeds() -> tuple[FeedConfig, ...]:
    return load_settings({}, str(ROOT / "config" / "bot.toml")).feeds


def test_export_is_opml_2_that_listparser_reads_back() -> None:
    text = export_opml(shipped_feeds(), created=WHEN)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    parsed = listparser.parse(text.encode("utf-8"))
    assert (parsed.bozo, parsed.version) == (False, "opml2")
    assert parsed.meta.title == "Bản tin"
    assert parsed.meta.created == "Sat, 14 Nov 2026 01:30:00 GMT"
    assert parsed.meta.created_parsed == WHEN
    got = [(f.title, f.url, f.categories) for f in parsed.feeds]
    assert got == [(f.name, f.url, [[f.category]]) for f in shipped_feeds()]


def test_export_nests_category_paths_and_keeps_uncategorised_feeds_at_the_top() -> None:
    feeds = [
        FeedConfig(id="a", name="A", url="https://a.vn/rss", category="Kinh doanh/Chứng khoán"),
        FeedConfig(id="b", name="B", url="https://b.vn/rss"),
        FeedConfig(id="c", name="C", url="https://c.vn/rss", category="Kinh doanh"),
    ]
    body = ET.fromstring(export_opml(feeds, created=WHEN).encode()).find("body")
    assert body is not None
    kinh_doanh, b = list(body)
    assert (kinh_doanh.get("text"), b.get("xmlUrl")) == ("Kinh doanh", "https://b.vn/rss")
    chung_khoan, c = list(kinh_doanh)
    assert (chung_khoan.get("title"), c.get("text")) == ("Chứng khoán", "C")
    assert [o.attrib for o in chung_khoan] == [
        {"type": "rss", "text": "A", "title": "A", "xmlUrl": "https://a.vn/rss"}
    ]


def test_export_escapes_names_urls_and_categories() -> None:
    feed_config = FeedConfig(
        id="x",
        name='Tin <b>nóng</b> & "mới"\x07',
        url="https://a.vn/rss?a=1&b=<2>",
        category="Pháp luật & <Đời sống>",
    )
    text = export_opml([feed_config], title="Tin & <tức>", created=WHEN)
    assert "&amp;" in text and "&lt;b&gt;" in text and "\x07" not in text
    parsed = listparser.parse(text.encode("utf-8"))
    assert parsed.meta.title == "Tin & <tức>"
    assert [(f.title, f.url, f.categories) for f in parsed.feeds] == [
        ('Tin <b>nóng</b> & "mới"', "https://a.vn/rss?a=1&b=<2>", [["Pháp luật & <Đời sống>"]])
    ]


def test_export_leaves_local_files_out() -> None:
    local = FeedConfig(id="local", name="Local", url=str(FEEDS / "tuoitre.rss"))
    remote = FeedConfig(id="vov", name="VOV", url="https://vov.vn/rss")
    parsed = listparser.parse(export_opml([local, remote], created=WHEN).encode("utf-8"))
    assert [f.url for f in parsed.feeds] == ["https://vov.vn/rss"]


def test_round_trip_through_opml(tmp_path: Path) -> None:
    shipped = shipped_feeds()
    config = '[bot]\n\n[[feeds]]\nid = "other"\nname = "Khác"\nurl = "https://example.vn/rss.xml"\n'
    new, report = import_opml(config, export_opml(shipped).encode("utf-8"))
    assert report.skipped == ()
    settings = load(tmp_path, new)
    assert [(f.name, f.url, f.category) for f in settings.feeds] == [
        ("Khác", "https://example.vn/rss.xml", ""),
        *((f.name, f.url, f.category) for f in shipped),
    ]
