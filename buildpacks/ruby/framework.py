"""Ruby, Rack or Rails, chosen as Heroku does by the gems in Gemfile.lock; each with its defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from slugbuild.buildpacks.ruby.gemfile_lock import GemfileLock

RUBY_PROCESSES = {"rake": "bundle exec rake", "console": "bundle exec irb"}


@dataclass(frozen=True)
class Framework:
    """What the app is, its default process types and the config defaults its .profile.d sets."""

    name: str  # "Ruby", "Rack", "Rails"
    process_types: dict[str, str]
    env_defaults: dict[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return "Ruby" if self.name == "Ruby" else f"Ruby/{self.name}"

    @property
    def is_rails(self) -> bool:
        return self.name == "Rails"


def detect(lock: GemfileLock) -> Framework:
    """Rails when railties is locked, Rack when rack is, else plain Ruby (config.ru alone does not count)."""
    env = {"LANG": "en_US.UTF-8"}
    rails_major = lock.gem_major("railties")
    if lock.has_gem("railties"):
        return _rails(rails_major or 0, env)
    if lock.has_gem("rack"):
        web = ("bundle exec thin start -R config.ru -e $RACK_ENV -p ${PORT:-5000}" if lock.has_gem("thin")
               else "bundle exec rackup config.ru -p ${PORT:-5000}")
        return Framework("Rack", {**RUBY_PROCESSES, "web": web}, {**env, "RACK_ENV": "production"})
    return Framework("Ruby", dict(RUBY_PROCESSES), env)


def _rails(major: int, env: dict[str, str]) -> Framework:
    env = {**env, "RACK_ENV": "production", "RAILS_ENV": "production"}
    if major >= 4:
        env["RAILS_SERVE_STATIC_FILES"] = "enabled"
    if major >= 5:
        env["RAILS_LOG_TO_STDOUT"] = "enabled"
    if major and major < 4:
        procs = {**RUBY_PROCESSES, "web": "bundle exec rails server -p ${PORT:-5000}",
                 "console": "bundle exec rails console"}
    else:
        procs = {**RUBY_PROCESSES, "web": "bin/rails server -p ${PORT:-5000} -e $RAILS_ENV",
                 "console": "bin/rails console"}
    return Framework("Rails", procs, env)
