"""The four printable forms as A4 PDF in Chinese: each renders with the bank's name, the data of its version
and signature lines; one page is rendered to an image to check the Chinese glyphs are really drawn."""

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from guanxi.core.models import AuditEntry
from guanxi.credit.approvals import credit_line_submit
from guanxi.credit.printing import font_files
from tests.credit.approval_helpers import proposed_line

A4 = (595.3, 841.9)  # points


def _text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


def _ink_box(image: Image.Image) -> Image.Image:
    """The glyph's ink cropped tight and scaled to 32×32, black and white."""
    gray = image.convert("L").point(lambda value: 255 if value > 128 else 0)
    box = ImageChops.invert(gray).getbbox()
    assert box, "no ink where the character is"
    return gray.crop(box).resize((32, 32)).point(lambda value: 255 if value > 128 else 0)


def _distance(one: Image.Image, other: Image.Image) -> int:
    difference = ImageChops.difference(one, other)
    return difference.width * difference.height - difference.histogram()[0]


def _reference(char: str) -> Image.Image:
    """The character drawn by Pillow from the font the forms embed."""
    regular, _bold, index = font_files()
    font = ImageFont.truetype(regular, 96, index=index)
    canvas = Image.new("L", (128, 128), 255)
    ImageDraw.Draw(canvas).text((10, 0), char, font=font, fill=0)
    return _ink_box(canvas)


@pytest.fixture
def approved_flow(bank, make_farmer):
    farmer = make_farmer(name="张秀英")
    line = proposed_line(bank.alice, farmer)
    approval = credit_line_submit(acting_user=bank.alice, line=line, comment="春耕备耕用款")
    return farmer, line, approval


def test_the_assessment_form_draws_real_chinese_glyphs(bank, approved_flow, login):
    _farmer, line, _approval = approved_flow
    response = login(bank.alice).get(f"/credit/assessments/{line.assessment_id}/form.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    document = pdfium.PdfDocument(response.content)
    page = document[0]
    assert tuple(round(v, 1) for v in page.get_size()) == A4
    textpage = page.get_textpage()
    text = textpage.get_text_range()
    title = "客户信用等级评估表"
    assert title in text, "the title is not in the page's text"
    scale = 4
    bitmap = page.render(scale=scale).to_pil().convert("L")
    start = text.index(title)
    glyphs = []
    for offset, char in enumerate(title):
        left, bottom, right, top = textpage.get_charbox(start + offset)
        height = page.get_height()
        crop = bitmap.crop((int(left * scale), int((height - top) * scale), int(right * scale) + 1,
                            int((height - bottom) * scale) + 1))
        glyphs.append((char, _ink_box(crop)))
    # Boxes (tofu) look all alike; real glyphs differ from one another ...
    for index, (char, glyph) in enumerate(glyphs):
        for other_char, other in glyphs[index + 1:]:
            if other_char != char:
                assert _distance(glyph, other) > 100, (char, other_char)
    # ... and each one looks most like the same character drawn straight from the font.
    references = {char: _reference(char) for char in set(title)}
    for char, glyph in glyphs:
        best = min(references, key=lambda candidate: _distance(glyph, references[candidate]))
        assert best == char, f"{char} on the page looks like {best}"


def test_the_four_forms_carry_the_bank_the_data_and_signature_lines(bank, approved_flow, login):
    farmer, line, approval = approved_flow
    client = login(bank.alice)
    registration = _text(client.get(f"/credit/customers/{farmer.pk}/registration.pdf").content)
    assessment = _text(client.get(f"/credit/assessments/{line.assessment_id}/form.pdf").content)
    calculation = _text(client.get(f"/credit/lines/{line.pk}/form.pdf").content)
    review = _text(client.get(f"/credit/line-approvals/{approval.pk}/form.pdf").content)
    for text in (registration, assessment, calculation, review):
        assert "总行" in text or bank.hq.name in text  # the bank's name heads every form
        assert farmer.name in text and "：____" in text and "日期：" in text  # data and signature lines
    assert "客户信息采集登记表" in registration and "村级评议小组综合评价" in registration
    assert "客户信用等级评估表" in assessment and "人口数" in assessment and "v1" in assessment
    assert "客户授信额度测算表" in calculation and "160,000.00" in calculation
    assert "客户授信额度审议审批表" in review and "春耕备耕用款" in review and "网点" in review
    assert AuditEntry.objects.filter(action="credit.form_print").count() == 4


def test_the_registration_form_masks_for_those_who_may_not_reveal(bank, make_farmer, login):
    farmer = make_farmer()
    full = _text(login(bank.alice).get(f"/credit/customers/{farmer.pk}/registration.pdf").content)
    assert farmer.id_number in full
    assert AuditEntry.objects.get(action="credit.form_print").changes["unmasked"] is True


def test_forms_of_customers_outside_the_scope_are_404(bank, approved_flow, login):
    farmer, line, approval = approved_flow
    client = login(bank.carol)
    for path in (f"/credit/customers/{farmer.pk}/registration.pdf", f"/credit/assessments/{line.assessment_id}/form.pdf",
                 f"/credit/lines/{line.pk}/form.pdf", f"/credit/line-approvals/{approval.pk}/form.pdf"):
        assert client.get(path).status_code == 404, path
