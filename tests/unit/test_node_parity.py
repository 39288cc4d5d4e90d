"""The Node.js buildpack answering as Heroku's does on Heroku's own fixtures (heroku/heroku-buildpack-nodejs
test/fixtures, with the expectations of test/run-*): each test names its source."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SLUGIGNORED = ("'package.json' listed in '.slugignore' file: no package.json was found because the "
               "'.slugignore' file is removing it before the build begins; remove that line "
               "(https://devcenter.heroku.com/articles/slug-compiler#ignoring-files-with-slugignore)")
GITIGNORED = ("'package.json' listed in '.gitignore' file: no package.json was found because the "
              "'.gitignore' file is preventing it from being checked in; remove that line and commit "
              "package.json (https://devcenter.heroku.com/articles/gitignore)")


# test/run-general testBinDetectWarnings, fixtures slugignore-package-json and gitignore-package-json
@pytest.mark.parametrize(("fixture", "message"), [
    ("node-slugignore-package-json", SLUGIGNORED), ("node-gitignore-package-json", GITIGNORED)])
@pytest.mark.parametrize("flags", [("--buildpack", "node"), ()])
def test_a_package_json_left_out_by_an_ignore_file_is_named(run_cli, tmp_path, fixture, message, flags):
    result = run_cli("build", FIXTURES / fixture, "-o", tmp_path / "slug.tgz", *flags)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.last_error_line.strip() == "!     " + message
    assert not (tmp_path / "slug.tgz").exists()


def test_an_app_without_package_json_is_still_not_compatible(run_cli, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / ".slugignore").write_text("package-lock.json\n")
    result = run_cli("build", tmp_path / "src", "-o", tmp_path / "slug.tgz", "--buildpack", "node")
    assert result.last_error_line.strip().startswith("!     App not compatible with buildpack: node")
