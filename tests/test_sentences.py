"""Sentence splitting of Vietnamese news text: abbreviations, initials, numbers, quotes."""

from __future__ import annotations

import unicodedata

import pytest
from conftest import ROOT

from bot.vietnamese import nfc, split_sentences

# Titles and place prefixes are always followed by what they qualify; ordinary words and
# acronyms ("UBND.", "v.v.") end a sentence when a capitalised word follows.
ABBREVIATIONS = [
    pytest.param(
        "Sáng 12/3, PGS.TS. Nguyễn Văn Hùng trình bày báo cáo đề dẫn. Hội thảo kéo dài một ngày.",
        [
            "Sáng 12/3, PGS.TS. Nguyễn Văn Hùng trình bày báo cáo đề dẫn.",
            "Hội thảo kéo dài một ngày.",
        ],
        id="pgs-ts",
    ),
    pytest.param(
        "GS.TS. Trần Văn Thuấn, Thứ trưởng Bộ Y tế, chủ trì cuộc họp. Bộ sẽ ban hành hướng dẫn.",
        [
            "GS.TS. Trần Văn Thuấn, Thứ trưởng Bộ Y tế, chủ trì cuộc họp.",
            "Bộ sẽ ban hành hướng dẫn.",
        ],
        id="gs-ts",
    ),
    pytest.param(
        "Theo TS. Lê Đăng Doanh, lạm phát vẫn trong tầm kiểm soát. Giá vàng giảm nhẹ.",
        ["Theo TS. Lê Đăng Doanh, lạm phát vẫn trong tầm kiểm soát.", "Giá vàng giảm nhẹ."],
        id="ts",
    ),
    pytest.param(
        "ThS. Phạm Thị Lan, giảng viên Trường ĐH Sư phạm, cho rằng cần giảm tải. Đề xuất này "
        "được nhiều phụ huynh đồng tình.",
        [
            "ThS. Phạm Thị Lan, giảng viên Trường ĐH Sư phạm, cho rằng cần giảm tải.",
            "Đề xuất này được nhiều phụ huynh đồng tình.",
        ],
        id="ths",
    ),
    pytest.param(
        "BS. CKII. Võ Đức Chiến, Giám đốc Bệnh viện Nguyễn Tri Phương, cho biết bệnh nhân đã "
        "qua cơn nguy kịch. Gia đình rất xúc động.",
        [
            "BS. CKII. Võ Đức Chiến, Giám đốc Bệnh viện Nguyễn Tri Phương, cho biết bệnh nhân "
            "đã qua cơn nguy kịch.",
            "Gia đình rất xúc động.",
        ],
        id="bs-ckii",
    ),
    pytest.param(
        "Đoàn do GS. Nguyễn Thiện Nhân dẫn đầu. KS. Lê Văn Tám trình bày phương án thi công.",
        [
            "Đoàn do GS. Nguyễn Thiện Nhân dẫn đầu.",
            "KS. Lê Văn Tám trình bày phương án thi công.",
        ],
        id="gs-ks",
    ),
    pytest.param(
        "Tại TP. Hồ Chí Minh, giá xăng RON 95 giảm 300 đồng/lít. Người dân đổ xăng từ sớm.",
        [
            "Tại TP. Hồ Chí Minh, giá xăng RON 95 giảm 300 đồng/lít.",
            "Người dân đổ xăng từ sớm.",
        ],
        id="tp-ho-chi-minh",
    ),
    pytest.param(
        "Công an TP. HCM đã khởi tố vụ án. Sở Y tế TP.HCM ghi nhận 120 ca sốt xuất huyết.",
        [
            "Công an TP. HCM đã khởi tố vụ án.",
            "Sở Y tế TP.HCM ghi nhận 120 ca sốt xuất huyết.",
        ],
        id="tp-hcm",
    ),
    pytest.param(
        "Đợt mưa lớn gây ngập nhiều tuyến đường ở TP.HCM. Giao thông ùn tắc kéo dài.",
        ["Đợt mưa lớn gây ngập nhiều tuyến đường ở TP.HCM.", "Giao thông ùn tắc kéo dài."],
        id="tp-hcm-ends-sentence",
    ),
    pytest.param(
        "Mưa lớn khiến nhiều tuyến phố ở trung tâm TP. Đà Nẵng ngập sâu. UBND TP. Đà Nẵng "
        "yêu cầu học sinh nghỉ học.",
        [
            "Mưa lớn khiến nhiều tuyến phố ở trung tâm TP. Đà Nẵng ngập sâu.",
            "UBND TP. Đà Nẵng yêu cầu học sinh nghỉ học.",
        ],
        id="tp-da-nang",
    ),
    pytest.param(
        "Đề xuất tăng lệ phí cấp phép xây dựng trên địa bàn TP. Mức thu mới áp dụng từ tháng 7.",
        [
            "Đề xuất tăng lệ phí cấp phép xây dựng trên địa bàn TP.",
            "Mức thu mới áp dụng từ tháng 7.",
        ],
        id="tp-alone-ends-sentence",
    ),
    pytest.param(
        "Mưa lớn kéo dài khiến nhiều con đường của TP. Vinh chìm trong biển nước. Lực lượng "
        "cứu hộ đã có mặt.",
        [
            "Mưa lớn kéo dài khiến nhiều con đường của TP. Vinh chìm trong biển nước.",
            "Lực lượng cứu hộ đã có mặt.",
        ],
        id="tp-one-syllable-city",
    ),
    pytest.param(
        "Vụ cháy xảy ra tại căn nhà số 12, đường Nguyễn Huệ, Q.1. Không có thiệt hại về người.",
        [
            "Vụ cháy xảy ra tại căn nhà số 12, đường Nguyễn Huệ, Q.1.",
            "Không có thiệt hại về người.",
        ],
        id="q1-ends-sentence",
    ),
    pytest.param(
        "Bà Hà (ngụ Q. 7, TP. HCM) cho biết giá thuê nhà tăng mạnh. Nhiều gia đình phải "
        "chuyển ra ngoại thành.",
        [
            "Bà Hà (ngụ Q. 7, TP. HCM) cho biết giá thuê nhà tăng mạnh.",
            "Nhiều gia đình phải chuyển ra ngoại thành.",
        ],
        id="q-number",
    ),
    pytest.param(
        "Trường Tiểu học P. 25, Q. Bình Thạnh tổ chức lễ khai giảng. Hơn 1.200 học sinh tham dự.",
        [
            "Trường Tiểu học P. 25, Q. Bình Thạnh tổ chức lễ khai giảng.",
            "Hơn 1.200 học sinh tham dự.",
        ],
        id="p-and-q-binh-thanh",
    ),
    pytest.param(
        "Dự án nằm tại P. An Bình, TX. Dĩ An, tỉnh Bình Dương. Chủ đầu tư cam kết bàn giao "
        "đúng hạn.",
        [
            "Dự án nằm tại P. An Bình, TX. Dĩ An, tỉnh Bình Dương.",
            "Chủ đầu tư cam kết bàn giao đúng hạn.",
        ],
        id="p-and-tx",
    ),
    pytest.param(
        "Đoàn công tác làm việc tại Tp. Cần Thơ và TT. Phong Thổ. Kết quả sẽ báo cáo Chính phủ.",
        [
            "Đoàn công tác làm việc tại Tp. Cần Thơ và TT. Phong Thổ.",
            "Kết quả sẽ báo cáo Chính phủ.",
        ],
        id="tp-lower-and-tt",
    ),
    pytest.param(
        "Mr. John Smith, đại diện Ngân hàng Thế giới, đánh giá cao nỗ lực cải cách. Ông nói "
        "tăng trưởng sẽ đạt 6,5%.",
        [
            "Mr. John Smith, đại diện Ngân hàng Thế giới, đánh giá cao nỗ lực cải cách.",
            "Ông nói tăng trưởng sẽ đạt 6,5%.",
        ],
        id="mr",
    ),
    pytest.param(
        "Đoàn vận động viên tập huấn tại St. Petersburg. Giải đấu khởi tranh vào tháng 9.",
        ["Đoàn vận động viên tập huấn tại St. Petersburg.", "Giải đấu khởi tranh vào tháng 9."],
        id="st",
    ),
    pytest.param(
        "Hàng hoá gồm gạo, cà phê, hạt điều v.v. đều tăng giá xuất khẩu. Kim ngạch đạt 3 tỷ USD.",
        [
            "Hàng hoá gồm gạo, cà phê, hạt điều v.v. đều tăng giá xuất khẩu.",
            "Kim ngạch đạt 3 tỷ USD.",
        ],
        id="vv-mid-sentence",
    ),
    pytest.param(
        "Chợ bán đủ thứ: rau, thịt, cá v.v. Năm nay sức mua giảm rõ rệt.",
        ["Chợ bán đủ thứ: rau, thịt, cá v.v.", "Năm nay sức mua giảm rõ rệt."],
        id="vv-ends-sentence",
    ),
    pytest.param(
        "Dự thảo đã được gửi tới UBND. Các sở có ý kiến trước ngày 30/6.",
        ["Dự thảo đã được gửi tới UBND.", "Các sở có ý kiến trước ngày 30/6."],
        id="acronym-ends-sentence",
    ),
    pytest.param(
        "Tỷ giá trung tâm tăng thêm 10 đồng, lên 24.300 VND/USD. Giá vàng SJC đứng yên.",
        ["Tỷ giá trung tâm tăng thêm 10 đồng, lên 24.300 VND/USD.", "Giá vàng SJC đứng yên."],
        id="currency-code-ends-sentence",
    ),
    pytest.param(
        "Số liệu được trích từ Niên giám thống kê (Tr. 45). Tác giả nhấn mạnh vai trò của "
        "nông nghiệp.",
        [
            "Số liệu được trích từ Niên giám thống kê (Tr. 45).",
            "Tác giả nhấn mạnh vai trò của nông nghiệp.",
        ],
        id="tr-page",
    ),
]

# A lone initial continues after a capitalised name word or before a bracket with the
# person's details; after an ordinary word it ends the sentence.
INITIALS = [
    pytest.param(
        "Ông Nguyễn Văn A. cho biết gia đình đã nộp đủ tiền bồi thường. Phiên toà kết thúc "
        "lúc 17h.",
        [
            "Ông Nguyễn Văn A. cho biết gia đình đã nộp đủ tiền bồi thường.",
            "Phiên toà kết thúc lúc 17h.",
        ],
        id="initial-then-lowercase",
    ),
    pytest.param(
        "Người khởi kiện là ông Nguyễn Văn A. Ông cho biết đã chờ kết quả hai năm.",
        ["Người khởi kiện là ông Nguyễn Văn A. Ông cho biết đã chờ kết quả hai năm."],
        id="initial-after-name-is-kept",
    ),
    pytest.param(
        "Nạn nhân là chị Phạm Thị T. (43 tuổi, ngụ TP. Thủ Đức). Công an đang điều tra.",
        [
            "Nạn nhân là chị Phạm Thị T. (43 tuổi, ngụ TP. Thủ Đức).",
            "Công an đang điều tra.",
        ],
        id="initial-then-bracket",
    ),
    pytest.param(
        "Đối tượng Vũ Thế H. (SN 1993, trú cùng thôn) đã bị bắt. Vụ việc gây bức xúc dư luận.",
        [
            "Đối tượng Vũ Thế H. (SN 1993, trú cùng thôn) đã bị bắt.",
            "Vụ việc gây bức xúc dư luận.",
        ],
        id="initial-then-birth-year",
    ),
    pytest.param(
        "Sau đó, H. thực hiện hành vi giao cấu với bà D. Nghi phạm và nạn nhân có quan hệ họ hàng.",
        [
            "Sau đó, H. thực hiện hành vi giao cấu với bà D.",
            "Nghi phạm và nạn nhân có quan hệ họ hàng.",
        ],
        id="initial-after-person-title-ends",
    ),
    pytest.param(
        "Nhà trường yêu cầu cô T. viết tường trình. Phòng GD-ĐT sẽ xử lý nghiêm sai phạm của "
        "cô T. Về phía gia đình, cần động viên em N.",
        [
            "Nhà trường yêu cầu cô T. viết tường trình.",
            "Phòng GD-ĐT sẽ xử lý nghiêm sai phạm của cô T.",
            "Về phía gia đình, cần động viên em N.",
        ],
        id="initials-after-lowercase-titles",
    ),
    pytest.param(
        "Ông Th. cho biết sẽ kháng cáo. Bị cáo Trần Văn Th. (45 tuổi) vắng mặt tại toà.",
        [
            "Ông Th. cho biết sẽ kháng cáo.",
            "Bị cáo Trần Văn Th. (45 tuổi) vắng mặt tại toà.",
        ],
        id="initial-cluster-th",
    ),
    pytest.param(
        "Khoảng 13h30 ngày 14/4, bà V.T. D. phát hiện sự việc. Bà lập tức trình báo công an.",
        [
            "Khoảng 13h30 ngày 14/4, bà V.T. D. phát hiện sự việc.",
            "Bà lập tức trình báo công an.",
        ],
        id="dotted-initials",
    ),
    pytest.param(
        "Dư luận phản ánh về việc thầy Đ. B.M. - hiệu trưởng nhà trường - thu tiền sai quy "
        "định. Sở đã lập đoàn kiểm tra.",
        [
            "Dư luận phản ánh về việc thầy Đ. B.M. - hiệu trưởng nhà trường - thu tiền sai quy "
            "định.",
            "Sở đã lập đoàn kiểm tra.",
        ],
        id="initial-before-initials",
    ),
    pytest.param(
        "Cựu Tổng thống George W. Bush gửi lời chia buồn. Lễ tang diễn ra tại Washington.",
        ["Cựu Tổng thống George W. Bush gửi lời chia buồn.", "Lễ tang diễn ra tại Washington."],
        id="foreign-middle-initial",
    ),
    pytest.param(
        "Hàng trăm người dự lễ tang cựu tổng thống George H.W. Bush. Các nhà lãnh đạo thế giới "
        "gửi điện chia buồn.",
        [
            "Hàng trăm người dự lễ tang cựu tổng thống George H.W. Bush.",
            "Các nhà lãnh đạo thế giới gửi điện chia buồn.",
        ],
        id="foreign-double-initial",
    ),
    pytest.param(
        "Gia đình khó khăn nên chính quyền phải trợ cấp cho H. Căn nhà mà H. đang ở cũng do "
        "xã hỗ trợ.",
        [
            "Gia đình khó khăn nên chính quyền phải trợ cấp cho H.",
            "Căn nhà mà H. đang ở cũng do xã hỗ trợ.",
        ],
        id="initial-after-ordinary-word-ends",
    ),
    pytest.param(
        "Trung Quốc muốn trở thành thế lực lớn nhất ở Đông Nam Á. Úc có thể kiềm chế điều đó.",
        [
            "Trung Quốc muốn trở thành thế lực lớn nhất ở Đông Nam Á.",
            "Úc có thể kiềm chế điều đó.",
        ],
        id="toned-capital-is-a-word",
    ),
    pytest.param(
        "Học sinh đi dã ngoại nhân dịp sơ kết học kỳ I. Sau đó các em tham quan Bến Nhà Rồng.",
        [
            "Học sinh đi dã ngoại nhân dịp sơ kết học kỳ I.",
            "Sau đó các em tham quan Bến Nhà Rồng.",
        ],
        id="roman-numeral-ends",
    ),
    pytest.param(
        "Mỗi trẻ cần được bổ sung vitamin D. Bác sĩ khuyên tắm nắng buổi sáng.",
        ["Mỗi trẻ cần được bổ sung vitamin D.", "Bác sĩ khuyên tắm nắng buổi sáng."],
        id="letter-after-common-noun-ends",
    ),
]

# Dots, slashes and colons inside numbers, dates, codes and addresses never end a sentence.
NUMBERS = [
    pytest.param(
        "Chiều 23/6, thị xã Lai Châu tổ chức Hội nghị tổng kết 10 năm thực hiện Chỉ thị số "
        "773/2001/CT-BQP. Đồng chí Đinh Quốc Hùng phát biểu.",
        [
            "Chiều 23/6, thị xã Lai Châu tổ chức Hội nghị tổng kết 10 năm thực hiện Chỉ thị số "
            "773/2001/CT-BQP.",
            "Đồng chí Đinh Quốc Hùng phát biểu.",
        ],
        id="directive-code",
    ),
    pytest.param(
        "Nghị định số 15/2026/NĐ-CP có hiệu lực từ ngày 23/6/2026. Doanh nghiệp cần chuẩn bị.",
        [
            "Nghị định số 15/2026/NĐ-CP có hiệu lực từ ngày 23/6/2026.",
            "Doanh nghiệp cần chuẩn bị.",
        ],
        id="decree-and-full-date",
    ),
    pytest.param(
        "Trận đấu bắt đầu lúc 19:30 trên sân Mỹ Đình. Đội tuyển Việt Nam thắng 2-0.",
        ["Trận đấu bắt đầu lúc 19:30 trên sân Mỹ Đình.", "Đội tuyển Việt Nam thắng 2-0."],
        id="clock-time",
    ),
    pytest.param(
        "Vụ tai nạn xảy ra lúc 10h30 sáng 5/3. Hai người bị thương nhẹ.",
        ["Vụ tai nạn xảy ra lúc 10h30 sáng 5/3.", "Hai người bị thương nhẹ."],
        id="time-with-h",
    ),
    pytest.param(
        "Mỗi hộ nghèo được hỗ trợ 1.000.000 đồng. Tổng kinh phí hơn 2,5 tỷ đồng.",
        ["Mỗi hộ nghèo được hỗ trợ 1.000.000 đồng.", "Tổng kinh phí hơn 2,5 tỷ đồng."],
        id="thousands-dots",
    ),
    pytest.param(
        "Tỷ lệ tốt nghiệp THPT năm nay đạt 98,5%. Năm ngoái con số này là 98,3%.",
        ["Tỷ lệ tốt nghiệp THPT năm nay đạt 98,5%.", "Năm ngoái con số này là 98,3%."],
        id="percent-decimal-comma",
    ),
    pytest.param(
        "Đảm bảo quân số đạt trên 98%. Năm nay đơn vị tiếp tục duy trì kết quả này.",
        ["Đảm bảo quân số đạt trên 98%.", "Năm nay đơn vị tiếp tục duy trì kết quả này."],
        id="percent-ends-sentence",
    ),
    pytest.param(
        "Động đất mạnh 3.5 độ richter xảy ra tại Kon Tum. Chưa ghi nhận thiệt hại.",
        ["Động đất mạnh 3.5 độ richter xảy ra tại Kon Tum.", "Chưa ghi nhận thiệt hại."],
        id="decimal-dot",
    ),
    pytest.param(
        "Ứng dụng VNeID phiên bản v2.0 bổ sung tính năng mới. Người dùng cần cập nhật.",
        ["Ứng dụng VNeID phiên bản v2.0 bổ sung tính năng mới.", "Người dùng cần cập nhật."],
        id="version",
    ),
    pytest.param(
        "Bức tường bị sập dài khoảng 30 m, cao gần 13 m. Nguyên nhân đang được làm rõ.",
        ["Bức tường bị sập dài khoảng 30 m, cao gần 13 m.", "Nguyên nhân đang được làm rõ."],
        id="unit-ends-sentence",
    ),
    pytest.param(
        "Lượng khách quốc tế tăng mạnh trong năm 2025. 10 tháng đầu năm đón 15 triệu lượt.",
        [
            "Lượng khách quốc tế tăng mạnh trong năm 2025.",
            "10 tháng đầu năm đón 15 triệu lượt.",
        ],
        id="next-sentence-starts-with-digit",
    ),
    pytest.param(
        "Thông tin được đăng tải trên VnExpress.net và tuoitre.vn cùng ngày. Bộ Y tế đã lên tiếng.",
        [
            "Thông tin được đăng tải trên VnExpress.net và tuoitre.vn cùng ngày.",
            "Bộ Y tế đã lên tiếng.",
        ],
        id="domains",
    ),
    pytest.param(
        "Độc giả xem chi tiết tại https://vnexpress.net/thoi-tiet-4567.html. Dự báo được cập "
        "nhật hằng ngày.",
        [
            "Độc giả xem chi tiết tại https://vnexpress.net/thoi-tiet-4567.html.",
            "Dự báo được cập nhật hằng ngày.",
        ],
        id="url-ends-sentence",
    ),
    pytest.param(
        "Mọi ý kiến xin gửi về hopthu@baolaichau.vn. Ban biên tập sẽ phản hồi trong 3 ngày.",
        [
            "Mọi ý kiến xin gửi về hopthu@baolaichau.vn.",
            "Ban biên tập sẽ phản hồi trong 3 ngày.",
        ],
        id="email",
    ),
    pytest.param(
        "Thanh tra phát hiện sai phạm tại Điều 5. Nội dung kết luận được công khai.",
        ["Thanh tra phát hiện sai phạm tại Điều 5.", "Nội dung kết luận được công khai."],
        id="article-number-ends-sentence",
    ),
    pytest.param(
        "Hội nghị thống nhất hai nội dung: 1. Phê duyệt quy hoạch; 2. Điều chỉnh ngân sách.",
        ["Hội nghị thống nhất hai nội dung: 1. Phê duyệt quy hoạch; 2. Điều chỉnh ngân sách."],
        id="inline-list-labels",
    ),
]

# "..." and "…" end a sentence only before a capitalised word.
ELLIPSES = [
    pytest.param(
        "Người dân mang theo gạo, mì tôm, nước uống... để hỗ trợ vùng lũ. Đoàn xuất phát lúc 6h.",
        [
            "Người dân mang theo gạo, mì tôm, nước uống... để hỗ trợ vùng lũ.",
            "Đoàn xuất phát lúc 6h.",
        ],
        id="dots-then-lowercase",
    ),
    pytest.param(
        "Ông Thông thu tiền để tiếp khách, mua quà biếu... Số tiền lên tới hàng tỷ đồng.",
        [
            "Ông Thông thu tiền để tiếp khách, mua quà biếu...",
            "Số tiền lên tới hàng tỷ đồng.",
        ],
        id="dots-then-capital",
    ),
    pytest.param(
        "Chính quyền giải quyết kịp thời các mâu thuẫn trong nội bộ nhân dân… Từ đó phát huy "
        "sức mạnh tổng hợp.",
        [
            "Chính quyền giải quyết kịp thời các mâu thuẫn trong nội bộ nhân dân…",
            "Từ đó phát huy sức mạnh tổng hợp.",
        ],
        id="ellipsis-char-then-capital",
    ),
    pytest.param(
        "Giá rau xanh, thịt lợn, trứng… đều tăng từ 10 đến 15%. Tiểu thương cho biết sức mua giảm.",
        [
            "Giá rau xanh, thịt lợn, trứng… đều tăng từ 10 đến 15%.",
            "Tiểu thương cho biết sức mua giảm.",
        ],
        id="ellipsis-char-then-lowercase",
    ),
    pytest.param(
        "… Người dân vẫn kiên trì bám trụ. Lũ đã rút.",
        ["… Người dân vẫn kiên trì bám trụ.", "Lũ đã rút."],
        id="leading-ellipsis",
    ),
    pytest.param(
        "Ông nói: “Chúng tôi đã làm (...) Mọi việc đều đúng quy trình”. Toà chưa chấp nhận.",
        [
            "Ông nói: “Chúng tôi đã làm (...) Mọi việc đều đúng quy trình”.",
            "Toà chưa chấp nhận.",
        ],
        id="elision-in-brackets",
    ),
]

# A sentence that ends inside quotes splits after the closing quote; a quoted exclamation
# or question that the sentence carries on after ("… anh nói") stays whole.
QUOTES = [
    pytest.param(
        "“Tôi sẽ đi!” anh nói. Sau đó anh rời khỏi hội trường.",
        ["“Tôi sẽ đi!” anh nói.", "Sau đó anh rời khỏi hội trường."],
        id="curly-exclamation-continues",
    ),
    pytest.param(
        '"Ai chịu trách nhiệm?" ông Dũng đặt câu hỏi. Đại diện Sở chưa trả lời.',
        ['"Ai chịu trách nhiệm?" ông Dũng đặt câu hỏi.', "Đại diện Sở chưa trả lời."],
        id="straight-question-continues",
    ),
    pytest.param(
        "Chị Lan chia sẻ: “Gia đình tôi rất vui.” Sau đó chị mời khách vào nhà.",
        ["Chị Lan chia sẻ: “Gia đình tôi rất vui.”", "Sau đó chị mời khách vào nhà."],
        id="curly-ends-inside",
    ),
    pytest.param(
        'Ông Hùng khẳng định: "Chúng tôi không bỏ cuộc." Trận lượt về diễn ra tuần sau.',
        ['Ông Hùng khẳng định: "Chúng tôi không bỏ cuộc."', "Trận lượt về diễn ra tuần sau."],
        id="straight-ends-inside",
    ),
    pytest.param(
        "Bị cáo nói lời sau cùng. “Tôi xin lỗi gia đình bị hại”, bị cáo nói.",
        ["Bị cáo nói lời sau cùng.", "“Tôi xin lỗi gia đình bị hại”, bị cáo nói."],
        id="next-sentence-opens-quote",
    ),
    pytest.param(
        "“Đây là giải pháp căn cơ”. Thủ tướng yêu cầu các bộ vào cuộc.",
        ["“Đây là giải pháp căn cơ”.", "Thủ tướng yêu cầu các bộ vào cuộc."],
        id="dot-after-closing-quote",
    ),
    pytest.param(
        "“Anh có buồn không?”, phóng viên hỏi. “Không”, nghệ sĩ Công Lý đáp.",
        ["“Anh có buồn không?”, phóng viên hỏi.", "“Không”, nghệ sĩ Công Lý đáp."],
        id="question-then-comma",
    ),
    pytest.param(
        "Ông nói: “Dự án này thứ trưởng nào phụ trách?”. Liền đó, Thứ trưởng đứng lên trả lời.",
        [
            "Ông nói: “Dự án này thứ trưởng nào phụ trách?”.",
            "Liền đó, Thứ trưởng đứng lên trả lời.",
        ],
        id="question-quote-dot",
    ),
    pytest.param(
        "“Mẹ ơi, mẹ ơi…” rồi ngất lịm. Người nhà đưa anh đi cấp cứu.",
        ["“Mẹ ơi, mẹ ơi…” rồi ngất lịm.", "Người nhà đưa anh đi cấp cứu."],
        id="ellipsis-inside-quote-continues",
    ),
    pytest.param(
        "“Chúng tôi sẽ kháng cáo.” – luật sư Hướng cho biết. Phiên phúc thẩm dự kiến vào tháng 9.",
        [
            "“Chúng tôi sẽ kháng cáo.” – luật sư Hướng cho biết.",
            "Phiên phúc thẩm dự kiến vào tháng 9.",
        ],
        id="quote-then-dash-attribution",
    ),
    pytest.param(
        'Thế giới này đang hướng về đâu? ", Schlegl nói. "Chúng tôi muốn hoà bình".',
        ['Thế giới này đang hướng về đâu? ", Schlegl nói.', '"Chúng tôi muốn hoà bình".'],
        id="detached-closing-quote",
    ),
]

# Brackets: a sentence ending on a caption or inside brackets splits after them.
BRACKETS = [
    pytest.param(
        "Đồng chí Lò Văn Giàng phát biểu tại hội nghị (Ảnh: TTXVN). Hội nghị bế mạc chiều "
        "cùng ngày.",
        [
            "Đồng chí Lò Văn Giàng phát biểu tại hội nghị (Ảnh: TTXVN).",
            "Hội nghị bế mạc chiều cùng ngày.",
        ],
        id="photo-credit",
    ),
    pytest.param(
        "Giá điện tăng 4,8% từ hôm nay (theo Quyết định của Bộ Công Thương.) Người dân cần "
        "tiết kiệm điện.",
        [
            "Giá điện tăng 4,8% từ hôm nay (theo Quyết định của Bộ Công Thương.)",
            "Người dân cần tiết kiệm điện.",
        ],
        id="sentence-ends-inside-brackets",
    ),
    pytest.param(
        "Tập đoàn báo lãi 1.200 tỷ đồng (tăng 15% so với cùng kỳ). (Nguồn: báo cáo tài chính "
        "quý II).",
        [
            "Tập đoàn báo lãi 1.200 tỷ đồng (tăng 15% so với cùng kỳ).",
            "(Nguồn: báo cáo tài chính quý II).",
        ],
        id="next-sentence-opens-bracket",
    ),
    pytest.param(
        "Bóng đá Việt Nam lại có tin vui. (BLC) - Chiều 23/6, đội U23 lên đường sang Qatar.",
        [
            "Bóng đá Việt Nam lại có tin vui.",
            "(BLC) - Chiều 23/6, đội U23 lên đường sang Qatar.",
        ],
        id="outlet-tag-opens-sentence",
    ),
    pytest.param(
        "Khách sạn này không có tivi trong phòng (!) Vấn đề là giá vẫn rất cao.",
        ["Khách sạn này không có tivi trong phòng (!) Vấn đề là giá vẫn rất cao."],
        id="aside-mark-in-brackets",
    ),
]

# "?" and "!", single or in runs, end a sentence before a capital.
MARKS = [
    pytest.param(
        "Vì sao giá xăng tăng liên tục? Bộ Tài chính đã giải thích.",
        ["Vì sao giá xăng tăng liên tục?", "Bộ Tài chính đã giải thích."],
        id="question",
    ),
    pytest.param(
        "Việt Nam vô địch! Hàng triệu người đổ ra đường ăn mừng.",
        ["Việt Nam vô địch!", "Hàng triệu người đổ ra đường ăn mừng."],
        id="exclamation",
    ),
    pytest.param(
        "Lại tăng học phí?! Phụ huynh bức xúc trước đề xuất mới.",
        ["Lại tăng học phí?!", "Phụ huynh bức xúc trước đề xuất mới."],
        id="question-exclamation",
    ),
    pytest.param(
        "Thắng rồi!! Đội tuyển nữ giành huy chương vàng SEA Games.",
        ["Thắng rồi!!", "Đội tuyển nữ giành huy chương vàng SEA Games."],
        id="double-exclamation",
    ),
    pytest.param(
        "Đoàn làm việc ở đâu? với ai? thì huyện không nắm được.",
        ["Đoàn làm việc ở đâu? với ai? thì huyện không nắm được."],
        id="question-then-lowercase",
    ),
    pytest.param(
        "Apple vừa ra mắt sản phẩm mới. iPhone 17 có giá từ 25 triệu đồng.",
        ["Apple vừa ra mắt sản phẩm mới.", "iPhone 17 có giá từ 25 triệu đồng."],
        id="camel-case-start",
    ),
    pytest.param(
        "Không khí lạnh tràn về Bắc Bộ. Đêm nay nhiệt độ ở Sa Pa xuống 3 độ C. Ở Hà Nội trời "
        "rét đậm.",
        [
            "Không khí lạnh tràn về Bắc Bộ.",
            "Đêm nay nhiệt độ ở Sa Pa xuống 3 độ C.",
            "Ở Hà Nội trời rét đậm.",
        ],
        id="three-weather-sentences",
    ),
    pytest.param(
        "Ủy ban Thường vụ Quốc hội họp phiên thứ 45. Ưu tiên hàng đầu là luật đất đai. Ông "
        "Vương Đình Huệ chủ trì.",
        [
            "Ủy ban Thường vụ Quốc hội họp phiên thứ 45.",
            "Ưu tiên hàng đầu là luật đất đai.",
            "Ông Vương Đình Huệ chủ trì.",
        ],
        id="vietnamese-capitals",
    ),
]

# Layout: line breaks, bullets, surrounding whitespace, empty input.
LAYOUT = [
    pytest.param("", [], id="empty"),
    pytest.param(" \n\t\n ", [], id="only-whitespace"),
    pytest.param(
        "Hội nghị gặp mặt tân binh trước khi lên đường nhập ngũ năm 2026",
        ["Hội nghị gặp mặt tân binh trước khi lên đường nhập ngũ năm 2026"],
        id="no-terminal-mark",
    ),
    pytest.param(
        "   Sáng nay, Hà Nội có mưa rào.  Chiều trời tạnh.   ",
        ["Sáng nay, Hà Nội có mưa rào.", "Chiều trời tạnh."],
        id="surrounding-and-double-spaces",
    ),
    pytest.param(
        "Giá cà phê   tăng mạnh.\u00a0Nông dân phấn khởi.",
        ["Giá cà phê   tăng mạnh.", "Nông dân phấn khởi."],
        id="inner-spaces-kept-nbsp-boundary",
    ),
    pytest.param(
        "Giữ vững phên dậu Tổ quốc\nNgày hội Biên phòng toàn dân năm 2026 tại xã Pa Tần",
        ["Giữ vững phên dậu Tổ quốc", "Ngày hội Biên phòng toàn dân năm 2026 tại xã Pa Tần"],
        id="newline-without-mark",
    ),
    pytest.param(
        "Bão số 3 đổ bộ vào Quảng Ninh. Gió giật cấp 12.\n\nHơn 50.000 người được sơ tán. "
        "Trường học đóng cửa.\r\n",
        [
            "Bão số 3 đổ bộ vào Quảng Ninh.",
            "Gió giật cấp 12.",
            "Hơn 50.000 người được sơ tán.",
            "Trường học đóng cửa.",
        ],
        id="paragraphs",
    ),
    pytest.param(
        "Nội dung chính của Nghị quyết:\n- Tăng lương cơ sở lên 2,34 triệu đồng.\n- Miễn học "
        "phí cho học sinh THCS.",
        [
            "Nội dung chính của Nghị quyết:",
            "- Tăng lương cơ sở lên 2,34 triệu đồng.",
            "- Miễn học phí cho học sinh THCS.",
        ],
        id="bullet-lines",
    ),
    pytest.param(
        "Hội nghị APEC thông qua ba ưu tiên. + Đối phó biến đổi khí hậu. + Thúc đẩy thương mại số.",
        [
            "Hội nghị APEC thông qua ba ưu tiên.",
            "+ Đối phó biến đổi khí hậu.",
            "+ Thúc đẩy thương mại số.",
        ],
        id="inline-bullets",
    ),
    pytest.param(
        "Kinh tế quý I tăng trưởng 6,9%. - Ông Nguyễn Chí Dũng: đây là mức cao nhất 5 năm.",
        [
            "Kinh tế quý I tăng trưởng 6,9%.",
            "- Ông Nguyễn Chí Dũng: đây là mức cao nhất 5 năm.",
        ],
        id="dash-then-capital",
    ),
    pytest.param(
        "(BLC) - Chiều 23/6, thị xã Lai Châu tổ chức Hội nghị tổng kết. Các đại biểu thảo "
        "luận sôi nổi.",
        [
            "(BLC) - Chiều 23/6, thị xã Lai Châu tổ chức Hội nghị tổng kết.",
            "Các đại biểu thảo luận sôi nổi.",
        ],
        id="outlet-tag-lead",
    ),
    pytest.param(
        "Tuyển thủ Quang Hải ghi bàn ở phút 89 . Trận đấu kết thúc với tỷ số 1-0.",
        ["Tuyển thủ Quang Hải ghi bàn ở phút 89 .", "Trận đấu kết thúc với tỷ số 1-0."],
        id="detached-dot",
    ),
]

CASES = [*ABBREVIATIONS, *INITIALS, *NUMBERS, *ELLIPSES, *QUOTES, *BRACKETS, *MARKS, *LAYOUT]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_keeps_every_word(text: str, expected: list[str]) -> None:
    # Only whitespace at the boundaries may go: the words come back unchanged, in order.
    sentences = split_sentences(text)
    assert " ".join(sentences).split() == text.split()
    assert all(sentence and sentence == sentence.strip() for sentence in sentences)


def test_decomposed_input_splits_once_composed() -> None:
    # The splitter expects NFC; feeds that send NFD go through nfc() first (normalize.py).
    text = "Ủy ban nhân dân TP. Đà Nẵng họp khẩn. Ông Lê Trung Chinh chủ trì."
    decomposed = unicodedata.normalize("NFD", text)
    assert split_sentences(nfc(decomposed)) == [
        "Ủy ban nhân dân TP. Đà Nẵng họp khẩn.",
        "Ông Lê Trung Chinh chủ trì.",
    ]


def test_scraped_page_lead_sentence() -> None:
    scrape = ROOT / "tests" / "data" / "pages" / "scrape_noise.txt"
    sentences = split_sentences(scrape.read_text(encoding="utf-8"))
    lead = next(sentence for sentence in sentences if sentence.startswith("(TĐ)"))
    assert lead == (
        "(TĐ) - Sáng 14/3, huyện Tam Đường tổ chức Hội nghị tổng kết 5 năm thực hiện Nghị "
        "quyết số 35/2019/NQ-HĐND về hỗ trợ phát triển chè búp tươi trên địa bàn huyện."
    )
    caption = (
        "Đồng chí Lò Văn Thành – Phó Chủ tịch UBND huyện Tam Đường trao Giấy khen cho các hộ "
        "trồng chè tiêu biểu."
    )
    assert caption in sentences
