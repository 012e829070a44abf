"""An unquoted value is read as its file's format reads it, held to the readers themselves:
PyYAML for YAML (a plain scalar in block context runs to its line's end or a comment),
python-dotenv for env files, Python's configparser for INI files; a Java properties file's value
is the rest of its line (java.util.Properties.load), a systemd unit's `Environment=` assignment
a word or the rest of its quotes (systemd.exec(5)).

Generated passwords (`pwgen -sy`, a password manager's) hold `;`, `,`, `}`, `]` and `#`, which
end an unquoted value elsewhere (a flow mapping's or a list's end, a comment), and start with
them one time in twenty: read as elsewhere, random 16-character ones were missed or cut short,
312 of 851 bare in YAML (by PyYAML, values it reads whole), 412 of 987 in a compose file's
`environment` list, 176 of 500 in a properties file, 216 of 500 in a unit's Environment=.
"""

from __future__ import annotations

import configparser
import io
import json
import random
import string
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import dotenv
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets import detectors
from auditor._secrets.model import secret_fingerprint
from auditor._secrets.scanner import Scanner

SCANNER = Scanner()
SYMBOLS = string.punctuation
"""pwgen -sy's symbols."""


def fingerprints(text: str, name: str) -> list[str]:
    """The fingerprints of what the scan finds in `text`, a file named `name`."""
    return [x.fingerprint for x in SCANNER.scan_blob(text.encode(), name).leaks]


def password(value: str) -> list[str]:
    return [secret_fingerprint("password", value.encode())]


def _yaml(path: tuple[Any, ...]) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        try:
            found: Any = yaml.safe_load(text)
            for step in path:
                found = found[step]
        except (yaml.YAMLError, LookupError, TypeError):
            return None
        return found
    return read


def _dotenv(text: str) -> Any:
    return dotenv.dotenv_values(stream=io.StringIO(text), interpolate=False).get("DB_PASSWORD")


def _in_block(text: str, key: str, read: Callable[[str], Any]) -> Any:
    """What `read` reads of the text PyYAML reads under `data.<key>` (a ConfigMap's file)."""
    inner = _yaml(("data", key))(text)
    return read(inner) if isinstance(inner, str) else None


def _ini(text: str) -> Any:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser.get("db", "password", fallback=None)


LAYOUTS: dict[str, tuple[str, str, Callable[[str], Any], str]] = {
    # name: (file name, text with {v}, its reader's value, the value it must read given v)
    "yaml": ("values.yaml", "db:\n  password: {v}  # rotated monthly\n", _yaml(("db", "password")), "{v}"),
    "yaml list item": ("deploy.yml", "- name: app\n  password: {v}\n", _yaml((0, "password")), "{v}"),
    "compose environment": ("docker-compose.yml", "services:\n  app:\n    environment:\n      - DB_PASSWORD={v}\n",
                            _yaml(("services", "app", "environment", 0)), "DB_PASSWORD={v}"),
    "env": ("app.env", "DB_PASSWORD={v}  # rotated monthly\n", _dotenv, "{v}"),
    "ini": ("app.ini", "[db]\npassword = {v}\n", _ini, "{v}"),
    "configmap env": ("configmap.yaml", "kind: ConfigMap\ndata:\n  app.env: |\n    DB_HOST=db\n    DB_PASSWORD={v}\n",
                      lambda text: _in_block(text, "app.env", _dotenv), "{v}"),
}


@pytest.mark.parametrize("value", [
    "cT;Zc,1UW=b5fx}zp",  # cut at `;` before
    "/8,P(-:]p/R<mVP2",  # cut at `,`
    "K#9:{;mQ,Hg!VWo8",
    "Ha[YWDUsiqJ]D&Pw",  # `]`
    "Xy1!aB2@cD3#eF4%",
])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_generated_password_is_read_whole_as_its_format_reads_it(value: str, layout: str) -> None:
    name, text, read, wanted = LAYOUTS[layout]
    written = text.format(v=value)
    assert read(written) == wanted.format(v=value)  # the reader reads it whole: the case is right
    assert fingerprints(written, name) == password(value)


@pytest.mark.parametrize(("text", "name", "value"), [
    ("DB_PASSWORD=;6a2B4vlylo+x{fu  # rotated\n", "app.env", ";6a2B4vlylo+x{fu"),
    ("DB_PASSWORD=#99aIjf~6h}.8t!8\n", "app.env", "#99aIjf~6h}.8t!8"),
    ("DB_PASSWORD=]s?/V;o#;Je!dLLJ\n", "etc/cim/agent.env", "]s?/V;o#;Je!dLLJ"),
    ("[db]\npassword = }DutcwDg3r?NOAuL\n", "app.ini", "}DutcwDg3r?NOAuL"),
    ("[db]\npassword = #cJ%4.#=!rSnigZJ\n", "app.ini", "#cJ%4.#=!rSnigZJ"),
    ("db:\n  password: ;rsupAv5/4:i%A)T\n", "values.yaml", ";rsupAv5/4:i%A)T"),
    ("db.password=,l_oL0Ri%3gC1EI>\n", "app.properties", ",l_oL0Ri%3gC1EI>"),
    ("PGPASSWORD=}m&_68w2aCmc<URR psql -h db\n", "deploy.sh", "}m&_68w2aCmc<URR"),
])
def test_a_generated_password_may_start_where_other_values_end(text: str, name: str, value: str) -> None:
    """A `#`, `;`, `,`, `}` or `]` right after `=` (or, in an INI or properties file, after
    `= `) starts a value, not a comment or the end of one, as dotenv, configparser, Java, the
    shell and YAML (`;` after `: `) read it; there a value is asked to be a generated
    password."""
    for read in (_dotenv if name.endswith(".env") else None, _ini if name.endswith(".ini") else None,
                 _yaml(("db", "password")) if name.endswith(".yaml") else None):
        assert read is None or read(text) == value
    assert fingerprints(text, name) == password(value)


@pytest.mark.parametrize(("text", "name"), [
    ("password=,host=db01,port=5432\n", "app.log"),  # an empty value, then the next field
    ("password=,host=db01,port=5432\n", "app.env"),
    ("[db]\npassword = # set in vault\n", "app.ini"),
    ("[db]\npassword = ; set in vault\n", "app.ini"),
    ("user=x password=} other=1\n", "app.log"),
    ("db:\n  password: # set in vault\n", "values.yaml"),
])
def test_what_starts_so_and_is_no_generated_password_is_no_value(text: str, name: str) -> None:
    assert fingerprints(text, name) == []


@pytest.mark.parametrize(("text", "value"), [
    ("db.password=cT;Zc,1UW=b5fx}zp\n", "cT;Zc,1UW=b5fx}zp"),
    ("db.password=}7EYeO_mP#bakzER3\n", "}7EYeO_mP#bakzER3"),
    ("db.password = g)cMKyzq/qnO#6vu\n", "g)cMKyzq/qnO#6vu"),
])
def test_a_properties_value_is_the_rest_of_its_line(text: str, value: str) -> None:
    """java.util.Properties: the value is the rest of the line; `#` and `!` start a comment only
    at a line's start."""
    assert fingerprints(text, "application.properties") == password(value)


@pytest.mark.parametrize(("line", "value"), [
    ("Environment=DB_PASSWORD=enLaGAUsTHanxFCRsBcM", "enLaGAUsTHanxFCRsBcM"),  # letters alone: no word of prose here
    ("Environment=DB_PASSWORD=K(I=O;aisp#NOUuM(( OTHER=1", "K(I=O;aisp#NOUuM(("),
    ('Environment=A=1 "DB_PASSWORD=xK9#mq2L;zP4]w8v" B=2', "xK9#mq2L;zP4]w8v"),
    ("Environment=USER=app DB_PASSWORD=a[/RiNTN9Ox98whG", "a[/RiNTN9Ox98whG"),  # a bracket: not code here
])
def test_a_unit_s_environment_assignment_is_a_word(line: str, value: str) -> None:
    """systemd.exec(5): Environment= takes blank-separated assignments, each quoted whole or not;
    nothing in a word ends it but a blank. A value of letters alone was dropped as a word of
    prose (13 of 500 random 20-character ones), and one holding a bracket as code."""
    assert fingerprints(f"[Service]\n{line}\nExecStart=/usr/bin/app\n", "etc/systemd/system/app.service") == \
        password(value)


def test_a_flow_mapping_s_value_still_ends_at_its_comma() -> None:
    text = "db: {password: Xy1!aB2@cD3#eF4%, user: admin}\n"
    assert _yaml(("db", "password"))(text) == "Xy1!aB2@cD3#eF4%"
    assert fingerprints(text, "values.yaml") == password("Xy1!aB2@cD3#eF4%")


@pytest.mark.parametrize(("value", "secret"), [
    ("t(GoJuK/Ee9eSVOh", True),  # `name(` with no call written: not a placeholder
    ("BcxK6rTD6UJ(-lny", True),
    ("get_password(name)", False),
    ("vault(secret/db)", False),
])
def test_a_call_is_a_placeholder_only_written_with_its_parenthesis_closed(value: str, secret: bool) -> None:
    text = f"db:\n  password: '{value}'\n"
    assert fingerprints(text, "values.yaml") == (password(value) if secret else [])


@pytest.mark.parametrize(("key", "value"), [
    ("CLIENT_SECRET", "!8J-aFTwcj4SY}(M"),  # a YAML tag's start
    ("api_token", "@rJc_kV5LFgm}GN2#"),  # an @name's
    ("secret_key", "/j0;@bal)3sSbyTf!"),  # a path's
])
def test_a_generated_secret_under_any_secret_name_is_no_placeholder(key: str, value: str) -> None:
    """The generated-password test (two scattered symbols in random upper and lower case)
    holds for a secret's or a token's name as for a password's."""
    leaks = SCANNER.scan_blob(f"{key}: '{value}'\n".encode(), "values.yaml").leaks
    assert [x.fingerprint for x in leaks] == [secret_fingerprint("generic-secret", value.encode())]


_GENERATED = st.text(alphabet=string.ascii_letters + string.digits + SYMBOLS.translate({ord(q): None for q in "\"'`"}),
                     min_size=12, max_size=24)
"""pwgen's alphabet but quotes and backticks: a bare value that holds one is read one way by
one reader and another way by the next (configparser keeps quotes that dotenv takes away)."""


@settings(max_examples=300, deadline=None)
@given(value=_GENERATED, layout=st.sampled_from(sorted(LAYOUTS)))
def test_what_is_found_is_what_the_reader_reads(value: str, layout: str) -> None:
    """Whatever the scan finds of a value its format's reader reads whole is that value: never a
    part of it, never more."""
    name, text, read, wanted = LAYOUTS[layout]
    written = text.format(v=value)
    if read(written) != wanted.format(v=value):
        return  # the reader reads something else: not a value written so
    assert set(fingerprints(written, name)) <= set(password(value))


def test_random_generated_passwords_are_found_in_every_format() -> None:
    """Of 300 random 16-character passwords of pwgen's alphabet per layout that the reader reads
    whole, the scan finds at least 95% (those left start as a variable, a path, an `@name` or a
    YAML tag would, with fewer than two scattered symbols): before, 37% of the YAML ones and 42%
    of the compose ones were missed."""
    rng = random.Random(23)
    for layout, (name, text, read, wanted) in LAYOUTS.items():
        tried = found = 0
        while tried < 300:
            value = "".join(rng.choice(string.ascii_letters + string.digits + SYMBOLS) for _ in range(16))
            written = text.format(v=value)
            if read(written) != wanted.format(v=value):
                continue
            tried += 1
            found += fingerprints(written, name) == password(value)
        assert found >= 0.95 * tried, (layout, found, tried)


@pytest.mark.parametrize("value", ["Xk9&mQ2<Lz>P4w\"8'v", "a&b&c&d&e&f&g&h&9Z", "Tr0ub4dor&3&amp;x"])
def test_an_xml_element_s_text_is_what_an_xml_parser_reads(value: str) -> None:
    """`&amp;`, `&lt;` and character references are the characters they stand for, as an XML
    parser reads the element (held to Python's ElementTree): the finding is the secret itself,
    with its fingerprint anywhere else (a YAML file's), not its escaped text; and an escaped
    placeholder (`&lt;your-password&gt;`) is the placeholder."""
    escaped = "".join({"&": "&amp;", "<": "&lt;", ">": "&#62;", '"': "&quot;", "'": "&#x27;"}.get(c, c) for c in value)
    text = f"<config>\n  <password>{escaped}</password>\n</config>\n"
    assert ET.fromstring(text).findtext("password") == value  # noqa: S314 - text this test wrote
    [leak] = SCANNER.scan_blob(text.encode(), "app.config").leaks
    assert (leak.fingerprint, leak.details.get("encoding")) == (password(value)[0], "xml")
    assert fingerprints(f"db:\n  password: {json.dumps(value)}\n", "values.yaml") == [leak.fingerprint]
    assert fingerprints("<config><password>&lt;your-password&gt;</password></config>\n", "app.config") == []


def test_a_percent_encoded_query_value_says_so() -> None:
    """A query parameter's value percent-encoded is reported with encoding `url` (it was labelled
    `base64`: the base64 test's empty answer overwrote the label)."""
    [leak] = SCANNER.scan_blob(b"GET /v1?api_key=Xk9mQ2Lz%21P4w8vRt7abc&x=1 HTTP/1.1\n", "access.log").leaks
    assert (leak.fingerprint, leak.details["encoding"]) == (
        secret_fingerprint("generic-secret", b"Xk9mQ2Lz!P4w8vRt7abc"), "url")


def test_a_unit_s_value_may_start_with_a_greater_than_sign() -> None:
    """`Environment=DB_PASSWORD=>x` is the value `>x`, not Perl's `=>` and `x`."""
    text = "[Service]\nEnvironment=DB_PASSWORD=>._!UO!L?0sL+eN+\n"
    assert fingerprints(text, "app.service") == password(">._!UO!L?0sL+eN+")
    assert fingerprints("DB_PASSWORD=>._!UO!L?0sL+eN+\n", "app.env") == password(">._!UO!L?0sL+eN+")


@pytest.mark.parametrize(("text", "name", "read"), [
    ('{"db": {"password": "Xk9\\/mQ2\\"Lz\\\\P4w8v"}}\n', "config.json", lambda t: json.loads(t)["db"]["password"]),
    ('{"db": {"password": "Xk9mQ2Lz\\u00e9P4w8v!"}}\n', "config.json", lambda t: json.loads(t)["db"]["password"]),
    ("db:\n  password: 'Xk9m''Q2Lz;P4w8v'\n", "values.yaml", _yaml(("db", "password"))),
    ('db:\n  password: "Xk9m\\"Q2Lz;P4w8v"\n', "values.yaml", _yaml(("db", "password"))),
    ('DB_PASSWORD="Xk9m\\"Q2Lz;P4w8v"\n', "app.env", _dotenv),
])
def test_a_quoted_value_is_what_its_reader_reads(text: str, name: str, read: Callable[[str], Any]) -> None:
    """Escapes in double quotes (`\\"`, `\\\\`, `\\/`: PHP's json_encode writes every `/` so,
    `\\u00e9`) and YAML's `''` in single quotes are read as the readers read them: the finding's
    fingerprint is the password's, as in any other file (it was the written text's)."""
    value = read(text)
    assert isinstance(value, str) and fingerprints(text, name) == password(value)


@pytest.mark.parametrize(("text", "name", "value"), [
    ("db:\n  password: 'kG(qA^&${Crfv<9Q'\n", "values.yaml", "kG(qA^&${Crfv<9Q"),  # `${` opens no interpolation here
    ("define('DB_PASSWORD', 'IsJ0pAgAt\"FYD+qv');\n", "config.php", 'IsJ0pAgAt"FYD+qv'),  # the other quote
    ("define('DB_PASSWORD', 'or8&.?!SU5u@`CQx');\n", "config.php", "or8&.?!SU5u@`CQx"),  # a backtick
    ("DB_PASSWORD = 'A$S\\\\%xv0-yVUvPoo'\n", "settings.py", "A$S\\%xv0-yVUvPoo"),  # Python's repr of a backslash
    ("password: ${DB_PASSWORD}\n", "notes.txt", None),  # read up to the `}`: an interpolation cut short
    ("password=${DB_PASS:-/run/secrets/db}\n", "run.sh", None),
    ("db:\n  password: 'x${DB_PASSWORD}y'\n", "values.yaml", None),
])
def test_a_generated_password_in_code_and_interpolations(text: str, name: str, value: str | None) -> None:
    """A call's quoted argument may hold the other quotes and backticks, `\\\\` in code's single
    quotes is one backslash, and a `${` is an interpolation only written whole or cut short at
    its brace: generated passwords holding them were missed (PHP's define with a `"` or a
    backtick: 59 of 1,000 of pwgen's) or fingerprinted as written."""
    assert fingerprints(text, name) == (password(value) if value is not None else [])


@pytest.mark.parametrize("value", ["cT;Zc,1UW=b5fx}zp", "K#9:{;mQ,Hg!VWo8", "}7EYeO_mP#bakzER3"])
def test_a_configmap_s_properties_file_is_read_as_one(value: str) -> None:
    """A block scalar under a file's name (a ConfigMap's `application.properties: |`, Spring
    Boot's) is that file's text, and its values are read as that file's: the rest of the line.
    Read as YAML's, a third of random 16-character passwords were missed and a fifth cut short."""
    text = ("kind: ConfigMap\ndata:\n  application.properties: |\n    db.url=jdbc:postgresql://db/app\n"
            f"    spring.datasource.password={value}\n")
    assert _yaml(("data", "application.properties"))(text).splitlines()[1] == f"spring.datasource.password={value}"
    assert fingerprints(text, "k8s/configmap.yaml") == password(value)


INI_FORMS = [  # (a file of INI's form named otherwise, its text with {v}, its section and key)
    ("home/app/.my.cnf", "[client]\nuser=app\npassword={v}\n", "client", "password"),
    ("home/app/.pypirc", "[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = app\npassword = {v}\n", "pypi",
     "password"),
    ("home/app/.aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLF\naws_secret_access_key = {v}\n",
     "default", "aws_secret_access_key"),
    ("etc/NetworkManager/system-connections/office.nmconnection",
     "[connection]\nid=office\ntype=wifi\n\n[wifi-security]\nkey-mgmt=wpa-psk\npsk={v}\n", "wifi-security", "psk"),
    ("etc/postgresql-common/pg_service.conf", "# services\n[prod]\nhost=db\nuser=app\npassword={v} ; rotated\n", "prod",
     "password"),
]


@pytest.mark.parametrize("value", ["cT;Zc,1UW=b5fx}zp", "K#9:{;mQ,Hg!VWo8", "/8,P(-:]p/R<mVP2"])
@pytest.mark.parametrize(("name", "text", "section", "key"), INI_FORMS)
def test_a_file_of_ini_s_form_is_read_as_ini_whatever_its_name(name: str, text: str, section: str, key: str,
                                                              value: str) -> None:
    """After a section's header, a key that begins its line is assigned the rest of it (up to a
    comment after a blank), as configparser reads MySQL's option files, .pypirc, AWS's
    credentials, NetworkManager's connections and pg_service.conf: generated passwords there
    were cut at their first `;`, `,`, `}`, `]` or `#`, or dropped (a third missed, a quarter cut
    short, of 20-character ones of pwgen's alphabet)."""
    written = text.format(v=value)
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))  # after a blank
    parser.read_string(written)
    assert parser[section][key] == value
    kind = "password" if key in ("password", "psk") else "generic-secret"
    assert [x.fingerprint for x in SCANNER.scan_blob(written.encode(), name).leaks
            if x.rule == kind] == [secret_fingerprint(kind, value.encode())]


@pytest.mark.parametrize(("text", "name", "value"), [
    ("authorization {\n  user = app\n  password = Xk9mQ2Lz;P4w8vRt7\n}\n", "etc/nats/nats.conf", "Xk9mQ2Lz"),  # NATS: `;` ends it
    ("[2026-12-07 10:00:00] INFO start\npassword=Xk9mQ2Lz,P4w8vRt7\n", "var/log/app.log", "Xk9mQ2Lz"),  # no header
])
def test_a_file_of_another_form_keeps_its_reading(text: str, name: str, value: str) -> None:
    assert fingerprints(text, name) == password(value)


def test_a_unit_s_environment_line_is_read_once_for_all_its_assignments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each assignment of an Environment= line asked whether it is one by matching the line from
    its start up to it: a line of 10,000 assignments (740 KB) took 58 s of CPU. The line is read
    once, whatever the number of its assignments, and each is still found."""
    calls: list[tuple[int, int]] = []
    keys = detectors._unit_keys

    def counted(data: bytes, line: int, end: int) -> frozenset[int]:
        calls.append((line, end))
        return keys(data, line, end)

    monkeypatch.setattr(detectors, "_unit_keys", counted)
    line = "Environment=" + " ".join(f'"DB_PASSWORD_{i}=Xk9m Q2Lz{i}"' if i % 2 else f"API_TOKEN_{i}=Xk9mQ2LzP4w8vRt{i}"
                                     for i in range(2000))
    leaks = SCANNER.scan_blob(f"[Service]\n{line}\nExecStart=/usr/bin/app\n".encode(), "app.service").leaks
    assert len(leaks) == 2000 and len(set(calls)) == len(calls) <= 3
