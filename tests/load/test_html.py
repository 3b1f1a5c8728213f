"""HTML pages: headings from h1-h6 only, code kept verbatim, no Markdown escapes,
readable tables, page furniture dropped, negotiated file names (``x.html.en.utf8``)."""

from __future__ import annotations

import pytest

from ragcli.load import kind_of, load_file, supported
from ragcli.load.html import is_html_name

# Shaped like a page of Apache's manual: a sidebar, a permalink, a config example whose
# comment lines start with "#", a directive table, inline code.
MANUAL = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>core - Apache HTTP Server</title></head><body>
<div id="page-header"><p class="menu">Modules | Directives | FAQ HEADERMENU</p></div>
<div id="path">Apache &gt; HTTP Server</div>
<div id="page-content">
<div id="preamble"><h1>Apache Core Features</h1>
<table class="module"><tr><th>Description:</th><td>Core features always available</td></tr>
<tr><th>Status:</th><td>Core</td></tr></table></div>
<div id="quickview"><h3>Directives</h3><ul><li>AcceptFilter QUICKVIEW</li></ul></div>
<div class="directive-section"><h2><a name="accept" id="accept">AcceptFilter</a> Directive
<a title="Permanent link" href="#accept" class="permalink">&para;</a></h2>
<p>Rules are <code>table</code>. The metavalue is not present in <code>lua_rawgeti</code>
or <code>lua_State *L</code> when it is <em>not</em> set.</p>
<pre class="prettyprint lang-config"># Lowercase HTTP method
AcceptFilter http none

# second comment
AcceptFilter https data</pre>
<p>After the example.</p>
<h3>See also</h3><ul><li><p>Protocol</p></li><li>Listen</li></ul>
</div></div>
<div id="footer"><p class="apache">Copyright 2025 FOOTERTOKEN</p></div>
</body></html>
"""


@pytest.fixture
def manual(tmp_path):
    path = tmp_path / "core.html.en.utf8"
    path.write_text(MANUAL, encoding="utf-8")
    [doc] = load_file(path, tmp_path)
    return doc


def section(doc, last_heading: str) -> str:
    for part in doc.sections:
        if part.location.heading and part.location.heading[-1] == last_heading:
            return doc.text[part.start : part.end]
    raise AssertionError(f"no section {last_heading!r} in {[s.location for s in doc.sections]}")


def test_headings_come_from_the_page_headings_only(manual):
    assert [s.location.heading for s in manual.sections] == [
        ("Apache Core Features",),
        ("Apache Core Features", "AcceptFilter Directive"),
        ("Apache Core Features", "AcceptFilter Directive", "See also"),
    ]


def test_pre_is_kept_verbatim_with_its_comment_lines(manual):
    body = section(manual, "AcceptFilter Directive")
    assert "# Lowercase HTTP method\nAcceptFilter http none\n\n# second comment\n" in body
    assert "After the example." in body


def test_inline_code_survives_without_markdown_escapes(manual):
    body = section(manual, "AcceptFilter Directive")
    assert "Rules are table. The metavalue is not present in lua_rawgeti or lua_State *L" in body
    assert "\\" not in manual.text


def test_tables_are_rows_of_cells(manual):
    assert "Description: | Core features always available\nStatus: | Core" in manual.text


def test_lists_and_furniture(manual):
    assert "- Protocol\n\n- Listen" in section(manual, "See also")
    for token in ["HEADERMENU", "QUICKVIEW", "FOOTERTOKEN", "¶", "Apache > HTTP"]:
        assert token not in manual.text, token
    assert manual.title == "core - Apache HTTP Server"
    assert manual.kind == "html"


def test_only_the_main_element_is_read(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><body><div class='banner'>OUTSIDE</div><main><h1>Guide</h1><p>Inside.</p>"
        "</main><div>ALSO OUTSIDE</div></body></html>",
        encoding="utf-8",
    )
    [doc] = load_file(path, tmp_path)
    assert doc.text == "Guide\n\nInside."
    assert doc.sections[0].location.heading == ("Guide",)


def test_permalink_signs_leave_headings_but_csharp_keeps_its_hash(tmp_path):
    path = tmp_path / "langs.html"
    path.write_text(
        "<h1>Languages <a href='#l'>#</a></h1><p>Intro.</p><h2>C#</h2><p>Managed.</p>"
        "<h2>Usage<span>¶</span></h2><p>Run it.</p>",
        encoding="utf-8",
    )
    [doc] = load_file(path, tmp_path)
    assert [s.location.heading for s in doc.sections] == [
        ("Languages",),
        ("Languages", "C#"),
        ("Languages", "Usage"),
    ]


def test_text_before_the_first_heading_has_no_heading(tmp_path):
    path = tmp_path / "page.htm"
    path.write_text("<p>Intro text.</p><h2>Part</h2><p>Body.</p>", encoding="utf-8")
    [doc] = load_file(path, tmp_path)
    assert [(doc.text[s.start : s.end], s.location.heading) for s in doc.sections] == [
        ("Intro text.", ()),
        ("Part\n\nBody.", ("Part",)),
    ]


@pytest.mark.parametrize(
    ("name", "html"),
    [
        ("core.html", True),
        ("core.HTM", True),
        ("core.html.en", True),
        ("core.html.en.utf8", True),
        ("index.html.ko.euc-kr", True),
        ("index.html.pt-br", True),
        ("page.xhtml.fr", True),
        ("notes.html.bak", False),
        ("archive.html.tar.gz", False),
        ("page.html.gz", False),
        ("html.en", False),
        ("core.txt", False),
    ],
)
def test_negotiated_html_names(name, html):
    assert is_html_name(name) is html


def test_negotiated_names_are_supported_as_html():
    assert supported("manual/mod/core.html.en.utf8")
    assert kind_of("manual/mod/core.html.en.utf8") == "html"
