"""Where the API URL and key come from: flag > environment > netrc for the API's own host, never another."""

from __future__ import annotations

from pathlib import Path

import pytest

from slugbuild.errors import UsageError
from slugbuild.platform import auth

NETRC = """\
machine api.heroku.com
  login me@example.com
  password netrc-heroku-key
machine 127.0.0.1
  login me@example.com
  password netrc-local-key
default
  login anyone
  password netrc-default-key
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home with no API variables set, so the machine's own settings never leak in."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("HEROKU_API_KEY", "SLUGBUILD_API_URL", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def write_netrc(path: Path, text: str = NETRC, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_flag_wins_over_the_environment_and_netrc(home, monkeypatch):
    write_netrc(home / ".netrc")
    monkeypatch.setenv("HEROKU_API_KEY", "env-key")
    found = auth.resolve(None, "flag-key")
    assert (found.api_key.value, found.api_key.source) == ("flag-key", "--api-key")


def test_the_environment_wins_over_netrc(home, monkeypatch):
    write_netrc(home / ".netrc")
    monkeypatch.setenv("HEROKU_API_KEY", "env-key\n")
    found = auth.resolve(None, None)
    assert (found.api_key.value, found.api_key.source) == ("env-key", "HEROKU_API_KEY")


def test_netrc_gives_the_key_of_the_api_host(home):
    write_netrc(home / ".netrc")
    assert auth.resolve(None, None).api_key.value == "netrc-heroku-key"
    local = auth.resolve("http://127.0.0.1:5000", None)
    assert local.api_key.value == "netrc-local-key"
    assert local.api_key.source == f"{home / '.netrc'} (machine 127.0.0.1)"


def test_netrc_never_lends_another_hosts_key_nor_the_default_entry(home):
    write_netrc(home / ".netrc")
    with pytest.raises(auth.MissingApiKey) as caught:
        auth.resolve("https://api.example.test", None)
    assert "netrc-" not in str(caught.value)
    assert "api.example.test" in str(caught.value)


def test_NETRC_names_the_file_to_read(home, monkeypatch):
    other = write_netrc(home / "elsewhere", "machine api.heroku.com password from-elsewhere\n", mode=0o644)
    write_netrc(home / ".netrc")
    monkeypatch.setenv("NETRC", str(other))
    assert auth.resolve(None, None).api_key.value == "from-elsewhere"


def test_a_world_readable_home_netrc_is_refused_with_the_fix(home):
    write_netrc(home / ".netrc", mode=0o644)
    with pytest.raises(auth.NetrcUnreadable, match=r"chmod 600 .*\.netrc"):
        auth.resolve(None, None)


def test_a_broken_netrc_names_the_file(home):
    write_netrc(home / ".netrc", "machine api.heroku.com bogus x\n")
    with pytest.raises(auth.NetrcUnreadable, match=r"\.netrc: line 1: bad follower token 'bogus'"):
        auth.resolve(None, None)


def test_no_key_anywhere_names_the_three_ways(home):
    with pytest.raises(auth.MissingApiKey) as caught:
        auth.resolve(None, None)
    message = str(caught.value)
    assert "--api-key" in message and "HEROKU_API_KEY" in message and "machine api.heroku.com" in message


def test_api_url_precedence_and_source(home, monkeypatch):
    assert auth.resolve_api_url(None).value == "https://api.heroku.com"
    monkeypatch.setenv("SLUGBUILD_API_URL", "http://127.0.0.1:5000/")
    assert auth.resolve_api_url(None) == auth.Sourced("http://127.0.0.1:5000", "SLUGBUILD_API_URL")
    assert auth.resolve_api_url("http://127.0.0.1:7000") == auth.Sourced("http://127.0.0.1:7000", "--api-url")


@pytest.mark.parametrize("url", ["api.heroku.com", "ftp://api.heroku.com", "http://"])
def test_an_api_url_that_is_not_http_is_a_usage_error(home, url):
    with pytest.raises(UsageError, match="is not an http"):
        auth.resolve_api_url(url)


def test_the_key_never_shows_in_reprs():
    creds = auth.Credentials(auth.Sourced("https://api.heroku.com", "default"),
                             auth.Sourced("s3cret-key", "HEROKU_API_KEY"))
    assert "s3cret-key" not in repr(creds)
    assert "s3cret-key" not in repr(auth.BearerAuth("s3cret-key"))
