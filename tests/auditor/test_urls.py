"""auditor._urls: user-info split off a URL, and put back for the one place it must travel whole."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor._urls import Credentials, join_url, split_url, strip_userinfo

_userinfo_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20)


@given(user=_userinfo_text, password=st.none() | st.text(max_size=20),
       host=st.sampled_from(["h", "127.0.0.1:8222", "[::1]:4222", "nats.example.com"]),
       rest=st.sampled_from(["", "/", "/varz?x=1", "/a#b"]))
def test_join_url_puts_back_what_split_url_took(user: str, password: str | None, host: str, rest: str) -> None:
    base = f"http://{host}{rest}"
    joined = join_url(base, Credentials(user, password))
    url, credentials = split_url(joined)
    assert url == base
    assert credentials is not None
    assert (credentials.username, credentials.password) == (user, password)
    assert strip_userinfo(joined) == base


def test_join_url_quotes_what_would_end_the_user_info() -> None:
    joined = join_url("https://vault:8200/", Credentials("a@b", "p:w/@#?"))
    assert joined == "https://a%40b:p%3Aw%2F%40%23%3F@vault:8200/"
    assert split_url(joined) == ("https://vault:8200/", Credentials("a@b", "p:w/@#?"))
