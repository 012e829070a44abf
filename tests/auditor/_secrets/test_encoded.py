"""Secrets base64-encoded (auditor._secrets.encoded): a Kubernetes Secret's `data`, a kubeconfig's
key, a whole file encoded. Before, a seed in a Secret's `data` went unreported and a token there
was a generic secret with the fingerprint of its encoded form; Kingfisher, the peer, finds both."""

from __future__ import annotations

import base64
import datetime
import io
import json
import random
import textwrap
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor._secrets import encoded
from auditor._secrets import scanner as scanner_module
from auditor._secrets.model import Leak
from auditor._secrets.scanner import Scanner
from tests.secrets_corpus import (
    PLANTERS,
    age_identity,
    aws_key_id,
    bearer_jwt,
    creds_file,
    github_token,
    nkey_seed,
    private_key_pem,
    vault_token,
)

SCANNER = Scanner()
PY_SCANNER = Scanner(prefer="python-re")


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def leaks(data: bytes, name: str = "secret.yaml") -> list[Leak]:
    """What a whole read of `data` reports; the Python prefilter must report the same."""
    fast = SCANNER._leaks_in(data, name, "", whole=True)
    slow = PY_SCANNER._leaks_in(data, name, "", whole=True)
    assert [(x.rule, x.line, x.column, x.fingerprint) for x in slow] == \
        [(x.rule, x.line, x.column, x.fingerprint) for x in fast]
    return fast


def plain_fingerprint(secret: str, name: str = "plain.txt") -> str:
    """The fingerprint the same secret gets in plain text."""
    found = leaks(f"{secret}\n".encode(), name)
    assert len(found) == 1
    return found[0].fingerprint


def test_a_kubernetes_secret_s_data_is_read_decoded() -> None:
    """Each value is reported under its own rule, where its encoded form starts, with the
    fingerprint the secret itself gets in plain text (not that of its encoding)."""
    rng = random.Random(7)
    token, seed = github_token(rng), nkey_seed(rng)
    key = private_key_pem(rng)
    url = "postgres://cim:cactusOrbit-42!FWCE@db.example.com:5432/cim"
    manifest = textwrap.dedent(f"""\
        apiVersion: v1
        kind: Secret
        metadata:
          name: app
        type: Opaque
        data:
          GITHUB_TOKEN: {b64(token)}
          NATS_SEED: {b64(seed)}
          tls.key: {b64(key)}
          DATABASE_URL: {b64(url)}
          user.creds: {b64(creds_file(rng))}
          AWS_ACCESS_KEY_ID: {b64(aws_key_id(rng))}
          VAULT_TOKEN: {b64(vault_token(rng))}
          AGE_KEY: {b64(age_identity())}
          SERVICE_TOKEN: {b64(bearer_jwt(rng))}
        """).encode()
    found = leaks(manifest)
    assert [(x.rule, x.line) for x in found] == [
        ("github-token", 7), ("nkey-seed", 8), ("private-key", 9), ("url-credential", 10), ("nats-creds", 11),
        ("aws-access-key", 12), ("vault-token", 13), ("age-identity", 14), ("jwt", 15)]
    # where the secret's own characters start: the value's start, or (a URL's password, a
    # .creds file's seed) the character that encodes its first byte
    password_at = url.index(":", len("postgres://")) + 1
    assert [x.column for x in found[:4]] == [17, 14, 12, 17 + 4 * password_at // 3]
    assert all(x.details["encoding"] == "base64" for x in found)
    assert found[0].fingerprint == plain_fingerprint(token)
    assert found[1].fingerprint == plain_fingerprint(seed)


def test_a_kubeconfig_s_client_key_is_a_private_key() -> None:
    key = private_key_pem(random.Random(3))
    config = f"users:\n- name: admin\n  user:\n    client-key-data: {b64(key)}\n".encode()
    assert [(x.rule, x.line, x.column) for x in leaks(config, "kubeconfig")] == [("private-key", 4, 22)]


WORDS = {word for det in SCANNER.detectors for word in det.words}
WITH_A_WORD = sorted(name for name, plant in PLANTERS.items() if any(w in plant(random.Random(11)).text.encode()
                                                                     for w in WORDS))


def test_most_planted_secrets_hold_a_word_decoding_starts_at() -> None:
    """In a file encoded whole, a secret is found where a detector's word lies within REACH of
    it (its key, `-----BEGIN`, `AKIA`): all the planted kinds but a URL's password (`url:
    postgres://…`), found encoded only where an encoding starts (a Secret's value: the first
    test)."""
    assert sorted(set(PLANTERS) - set(WITH_A_WORD)) == ["url-credential"]


@pytest.mark.parametrize("skip", [0, 1, 2])
@pytest.mark.parametrize("shape", ["one-line", "wrapped", "yaml-block"])
@pytest.mark.parametrize("name", WITH_A_WORD)
def test_every_planted_secret_is_found_in_a_whole_file_encoded(name: str, shape: str, skip: int) -> None:
    """A file encoded whole (`base64 app.env`): the secret falls at each of the three places in
    the encoding's groups (`skip` bytes before it), on one line, wrapped at 76 characters, or in
    an indented YAML block scalar."""
    planted = PLANTERS[name](random.Random(11))
    encoded_text = b64("#" * skip + "\n" + planted.text)
    if shape == "wrapped":
        data = "\n".join(textwrap.wrap(encoded_text, 76)) + "\n"
    elif shape == "yaml-block":
        data = "data:\n  app.env: |\n" + "".join(f"    {line}\n" for line in textwrap.wrap(encoded_text, 64))
    else:
        data = f"APP_ENV_B64={encoded_text}\n"
    found = leaks(data.encode(), "app.yaml")
    assert len(found) == 1, [x.rule for x in found]
    assert found[0].category in planted.categories
    assert found[0].details["encoding"] == "base64"


def test_a_value_glued_to_base64_characters_is_still_read_from_its_start() -> None:
    """`abcZ2hwX…`: decoding the run from `abc` puts bytes before the token that make it look
    like the tail of a longer word; the token is decoded from its own start too."""
    token = github_token(random.Random(5))
    for glue in ("a", "ab", "abc", "abcd", "abcde"):
        found = leaks(f"value: {glue}{b64(token)}\n".encode())
        assert [(x.rule, x.column, x.fingerprint) for x in found] == \
            [("github-token", 8 + len(glue), plain_fingerprint(token))], glue


def test_an_encoding_inside_an_encoding_is_read_two_deep_and_no_deeper() -> None:
    token = github_token(random.Random(9))
    inner = f"apiVersion: v1\nkind: Secret\ndata:\n  token: {b64(token)}\n"
    assert [x.rule for x in leaks(f"manifest: {b64(inner)}\n".encode())] == ["github-token"]
    assert leaks(f"manifest: {b64(b64(inner))}\n".encode()) == []


def _certificate() -> bytes:
    """A certificate whose DER holds URLs (its CRL and OCSP addresses) and a name with `pass` in it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocsp.buypass.example")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://crl.buypass.example/ca.crl")], None, None, None)]), False)
            .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier("http://ocsp.buypass.example"))]), False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_certificates_and_random_base64_give_nothing() -> None:
    """A PEM body is DER, read by its header's detector, not decoded again (a certificate's
    `http://` addresses are encoded in it); a certificate's base64 in a kubeconfig decodes to a
    PEM certificate, no secret; random base64 holding an encoded form by chance decodes to
    bytes that hold no secret either."""
    pem = _certificate()
    assert leaks(pem, "ca.pem") == []
    assert leaks(b"clusters:\n- cluster:\n    certificate-authority-data: " + b64(pem).encode() + b"\n", "kubeconfig") == []
    rng = random.Random(1)
    noise = base64.encodebytes(bytes(rng.getrandbits(8) for _ in range(200_000)))
    forms = sorted({form.text for forms in SCANNER.encoded_forms.values() for form in forms})
    planted = b"".join(noise[i:i + 5000] + rng.choice(forms) for i in range(0, len(noise), 5000))
    assert leaks(planted, "blob.b64") == []


def test_a_value_of_binary_bytes_is_no_secret() -> None:
    """The DER of a certificate names `ocsp.buypass.com` before an `=`-like byte: its binary
    value was reported as a password (a name holding `pass`); control bytes are no typed value."""
    der = b"\x86\x1dhttp://ocsp.test4.buypass.com0=\x06\x08+\x06\x01\x05\x05\x070\x02\x861http://crt.example/x\n"
    assert SCANNER.scan_bytes(der, "cert.der") == []
    assert [h.rule for h in SCANNER.scan_bytes(b"buypass = Xy12abc-Qw99\n", "a.conf")] == ["password"]


def test_the_encoded_forms_stay_within_the_prefilter_s_budget() -> None:
    """Past about 110 literals Hyperscan's literal matcher costs a third more on every byte
    (measured: `tests/benchmarks/test_bench_secrets_speed.py`); the forms are kept few."""
    forms = {form.text for forms in SCANNER.encoded_forms.values() for form in forms}
    assert 0 < len(forms) <= encoded.FORMS_BUDGET


@pytest.mark.parametrize("literal", [b"ghp_", b"-----BEGIN", b"password", b"SG."])
def test_each_form_is_what_base64_makes_of_its_literal(literal: bytes) -> None:
    """Every form of a word is in the encoding of the word wherever it falls, at the phase
    said; a start's form where the encoding starts."""
    forms = encoded.forms_of(literal)
    assert forms
    for skip in range(3):
        text = base64.b64encode(b"x" * skip + literal + b"yyy")
        hits = [f for f in forms if text.find(f.text) >= 0 and (text.find(f.text) - f.phase) % 4 == 0]
        assert hits or len(literal) < 4, skip
    assert all(base64.b64encode(literal).startswith(f.text) for f in encoded.forms_of(literal, False))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80),
       after=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80),
       wrap=st.sampled_from([0, 64, 76]), urlsafe=st.booleans())
def test_a_token_anywhere_in_an_encoded_text_is_found(before: str, after: str, wrap: int, urlsafe: bool) -> None:
    token = github_token(random.Random(len(before) + 3 * len(after)))
    raw = f"{before}\nGITHUB_TOKEN={token}\n{after}".encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    if wrap:
        text = "\n".join(textwrap.wrap(text, wrap))
    found = leaks(f"{text}\n".encode(), "blob.txt")
    assert ("github-token", plain_fingerprint(token)) in [(x.rule, x.fingerprint) for x in found]


def docker_config(*logins: tuple[str, str, str]) -> str:
    """A registry config as `docker login` writes it (config.json: tab-indented JSON, each
    registry's `auth` alone: base64 of user:password)."""
    return json.dumps({"auths": {registry: {"auth": b64(f"{user}:{password}")} for registry, user, password in logins}},
                      indent="\t")


def image_pull_secret(config: str, key: str = ".dockerconfigjson") -> str:
    """`config` in a Secret, as `kubectl create secret generic regcred --from-file=KEY=config.json
    --type=kubernetes.io/dockerconfigjson -o yaml` writes it (Kubernetes' documentation's way)."""
    kind = "dockerconfigjson" if key == ".dockerconfigjson" else "dockercfg"
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/{kind}\n"
            f"data:\n  {key}: {b64(config)}\n")


def test_an_image_pull_secret_s_registry_passwords_are_found() -> None:
    """A registry config in an image pull Secret holds each password as base64 of base64 (its
    `auth`) and names no word the encoded forms look for: a config.json put there as it is was
    read as nothing. Each registry's password is found now, inside the value, with the
    fingerprint the same config.json on disk gives it: in the Secret as YAML, as JSON (`kubectl
    get -o json`), and under the older `.dockercfg` type."""
    config = docker_config(("registry.example.com", "deploy", "Xq9vR2kLp7wZt4Hs"), ("ghcr.io", "bot", "Zt4Hs-Lp7wXq9vR2"))
    on_disk = [(x.rule, x.fingerprint) for x in leaks(config.encode(), "config.json")]
    assert [rule for rule, _ in on_disk] == ["password", "password"] and len(set(on_disk)) == 2
    as_json = json.dumps({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                          "data": {".dockerconfigjson": b64(config)}}, indent=4)
    for text, name in ((image_pull_secret(config), "regcred.yaml"), (as_json, "regcred.json")):
        found = leaks(text.encode(), name)
        assert [(x.rule, x.fingerprint) for x in found] == on_disk, name
        assert all(x.details["encoding"] == "base64" for x in found)
        line = text.splitlines()[found[0].line - 1]
        value = line.index(b64(config))
        assert {x.line for x in found} == {found[0].line}
        assert value < found[0].column - 1 < found[1].column - 1 < value + len(b64(config))
    legacy = json.dumps({"registry.example.com": {"auth": b64("deploy:Xq9vR2kLp7wZt4Hs")}})
    assert [(x.rule, x.fingerprint) for x in leaks(image_pull_secret(legacy, ".dockercfg").encode())] == on_disk[:1]


def test_a_pull_secret_made_by_kubectl_is_one_finding_per_password_as_before() -> None:
    """`kubectl create secret docker-registry` writes the password twice (`password` and in
    `auth`): found as before, each where it lies, once each (decoding the value for its key
    and for the word `password` in it makes no second finding of either)."""
    login = {"username": "deploy", "password": "Xq9vR2kLp7wZt4Hs", "auth": b64("deploy:Xq9vR2kLp7wZt4Hs")}
    config = json.dumps({"auths": {"registry.example.com": login}}, separators=(",", ":"))
    found = leaks(image_pull_secret(config).encode())
    assert len(found) == 2 and len({x.column for x in found}) == 2 and len({x.fingerprint for x in found}) == 1


@pytest.mark.parametrize("value", ["", '""', "not base64!", "eyJ", "e30=", b64("no registry here"), b64(bytes(range(256)))])
def test_an_image_pull_secret_value_holding_no_password_gives_nothing(value: str) -> None:
    assert leaks(f"data:\n  .dockerconfigjson: {value}\n  .dockercfg: {value}".encode()) == []


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(
    [b"\n", b"  ", b"=", b"==\n", b"-----BEGIN X-----\n", b".dockerconfigjson: ", b'".dockercfg":"', *sorted(
        {form.text for forms in SCANNER.encoded_forms.values() for form in forms})[:40]])), max_size=60))
def test_any_bytes_around_encoded_forms_are_read_without_error(data: list[bytes]) -> None:
    leaks(b"".join(data), "fuzz.bin")


def test_one_long_run_full_of_forms_is_decoded_a_bounded_number_of_times(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every form in a 540 KB run would decode BACK and REACH around it again; a form inside what
    was decoded is not decoded again, so the characters decoded stay a few times the run's."""
    decoded: list[int] = []
    real = encoded._Region.hits

    def counted(region: encoded._Region, scan: encoded.Scan, depth: int) -> list[tuple[object, int]]:
        decoded.append(len(region.text))
        return real(region, scan, depth)  # type: ignore[return-value]

    monkeypatch.setattr(encoded._Region, "hits", counted)
    text = b"".join(f"password{i}=Xq9-vT2#mLr7pZ{i}\n".encode() for i in range(12_000))
    run = base64.b64encode(text)
    found = SCANNER._leaks_in(b"blob: " + run + b"\n", "blob.yaml", "", whole=True)
    assert len(found) == 12_000
    assert sum(decoded) <= 4 * len(run)


@pytest.mark.parametrize("cut", range(-40, 41, 8))
def test_a_streamed_file_decodes_what_a_whole_read_decodes(monkeypatch: pytest.MonkeyPatch, cut: int) -> None:
    """An encoded secret across a window boundary, each way: the same findings, lines and
    columns as one read of the same bytes (the windows' overlap holds what is decoded)."""
    monkeypatch.setattr(encoded, "BACK", 1024)
    monkeypatch.setattr(encoded, "REACH", 4096)
    monkeypatch.setattr(encoded, "TAIL", 2048)
    overlap = 1024 + 4096 + 2048 + 20_000  # and what the detectors read around a hit (a JWT's 17.5 KiB)
    monkeypatch.setattr(scanner_module, "WINDOW", 4 * overlap)
    monkeypatch.setattr(scanner_module, "OVERLAP", overlap)
    boundary = 3 * overlap
    value = f"  token: {b64(github_token(random.Random(2)))}\n".encode()
    wrapped = "\n".join(textwrap.wrap(b64("x\n" + creds_file(random.Random(2))), 76)).encode() + b"\n"
    pulled = image_pull_secret(docker_config(("registry.example.com", "deploy", "Xq9vR2kLp7wZt4Hs"))).encode()
    filler = b"ordinary text, nothing to see here\n" * (12 * overlap // 35)
    for block in (value, wrapped, pulled):
        offset = boundary - len(block) // 2 + cut
        data = filler[:offset] + block + filler[:12 * overlap - offset]
        whole = SCANNER._leaks_in(data, "f.yaml", "", whole=False)
        streamed = list(SCANNER._stream(io.BytesIO(data[4 * overlap:]), data[:4 * overlap], "f.yaml", ""))
        assert whole
        assert [(x.rule, x.line, x.column, x.fingerprint) for x in streamed] == \
            [(x.rule, x.line, x.column, x.fingerprint) for x in whole]


def test_the_windows_overlap_holds_what_is_decoded() -> None:
    """At the real sizes: what a form decodes either way, and the longest secret after it."""
    assert encoded.BACK + encoded.REACH + encoded.TAIL <= scanner_module.OVERLAP
    assert encoded.TAIL >= 4 * 17_500 // 3  # a JWT's most, encoded (the jwt detector's `after`)


def test_a_secret_file_encoded_is_found_through_scan_file(tmp_path: Path) -> None:
    seed = nkey_seed(random.Random(4))
    path = tmp_path / "seed.b64"
    path.write_text(base64.encodebytes(f"# the agent's seed\n{seed}\n".encode()).decode())
    result = Scanner().scan_file(path, path.name)
    assert [(x.rule, x.fingerprint, x.details["encoding"]) for x in result.leaks] == \
        [("nkey-seed", plain_fingerprint(seed), "base64")]


def test_a_secret_s_data_value_is_judged_and_fingerprinted_as_what_it_encodes() -> None:
    """`data:` holds base64 by contract: a password there was fingerprinted by its encoding (so
    the same password in `stringData`, or in plain text elsewhere, was another secret), and a
    placeholder there (`Y2hhbmdlbWU=`, `changeme`) was a password. `echo`'s newline is dropped."""
    manifest = (f"kind: Secret\ndata:\n  DB_PASSWORD: {b64('Xq9-vT2#mLr7pZ')}\n  ADMIN_PASSWORD: {b64('changeme')}\n"
                f"  API_TOKEN: {b64('q8Zr3LmN7vKx2PwT9sYb4HcJ6dFg1EaU' + chr(10))}\n"
                "stringData:\n  DB_PASSWORD: 'Xq9-vT2#mLr7pZ'\n").encode()
    found = leaks(manifest)
    assert [(x.rule, x.line, x.column, x.details.get("encoding")) for x in found] == [
        ("password", 3, 16, "base64"), ("generic-secret", 5, 14, "base64"), ("password", 7, 17, None)]
    assert found[0].fingerprint == found[2].fingerprint
    assert found[1].fingerprint == leaks(b"API_TOKEN=q8Zr3LmN7vKx2PwT9sYb4HcJ6dFg1EaU\n", ".env")[0].fingerprint


@pytest.mark.parametrize("value", ["q8Zr3LmN7vKx2PwT9sYb4HcJ", "Tr0ub4dor3xyZZ12", "hunter2hunter2"])
def test_a_password_that_only_looks_like_base64_is_judged_as_it_is(value: str) -> None:
    """Random base64 (`openssl rand -base64 18`) decodes to bytes that are no text: it is the
    password itself, fingerprinted as written; so is one that is no valid base64."""
    found = leaks(f"password: {value}\n".encode(), "app.yaml")
    assert [(x.rule, x.details.get("encoding")) for x in found] == [("password", None)]


def test_the_history_cache_is_keyed_on_how_far_base64_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache of findings made with other reaches would answer for blobs it read otherwise."""
    from auditor._secrets.history import ruleset_key

    before = ruleset_key(SCANNER)
    for name in ("BACK", "REACH", "TAIL", "DEPTH"):
        with monkeypatch.context() as m:
            m.setattr(encoded, name, getattr(encoded, name) + 1)
            assert ruleset_key(SCANNER) != before, name
    assert ruleset_key(SCANNER) == before
