"""Ruby, Rack or a Rails generation, chosen as Heroku does by the gems in Gemfile.lock, with its defaults.

Heroku tries Rails8 ... Rails4 (railties >= 4), Rails3 (railties 3.x), Rails2 (the `rails` gem 2.x: Rails 2
had no railties), Rack, Ruby (lib/language_pack.rb `detect`); each class's default_process_types extends its
parent's (lib/language_pack/rails*.rb, rack.rb, ruby.rb).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from slugbuild.buildpacks.ruby.gemfile_lock import GemfileLock

RUBY_PROCESSES = {"rake": "bundle exec rake", "console": "bundle exec irb"}
WORKER_TASK = "jobs:work"  # a Rails app that defines it gets a worker (Rails2#default_process_types)
WORKER = "bundle exec rake jobs:work"


@dataclass(frozen=True)
class Framework:
    """What the app is, its default process types and the config defaults its .profile.d sets."""

    name: str  # "Ruby", "Rack", "Rails"
    process_types: dict[str, str]
    env_defaults: dict[str, str] = field(default_factory=dict)
    rails_major: int | None = None  # the generation Heroku's classes go by (2 ... 8)

    @property
    def description(self) -> str:
        return "Ruby" if self.name == "Ruby" else f"Ruby/{self.name}"

    @property
    def is_rails(self) -> bool:
        return self.name == "Rails"

    def with_rake_tasks(self, tasks: set[str]) -> Framework:
        """The defaults once the app's rake tasks are known: Rails apps with jobs:work get a worker."""
        if not self.is_rails or WORKER_TASK not in tasks:
            return self
        return Framework(self.name, {**self.process_types, "worker": WORKER}, self.env_defaults,
                         self.rails_major)


def detect(lock: GemfileLock) -> Framework:
    """Rails by railties (or, for Rails 2, the rails gem), Rack when rack is locked, else plain Ruby;
    config.ru alone does not count."""
    env = env_defaults(lock)
    major = rails_generation(lock)
    if major is not None:
        return Framework("Rails", rails_processes(major, lock.has_gem("thin")), env, major)
    if lock.has_gem("rack"):
        web = ("bundle exec thin start -R config.ru -e $RACK_ENV -p ${PORT:-5000}" if lock.has_gem("thin")
               else "bundle exec rackup config.ru -p ${PORT:-5000}")
        return Framework("Rack", {**RUBY_PROCESSES, "web": web}, env)
    return Framework("Ruby", dict(RUBY_PROCESSES), env)


def rails_generation(lock: GemfileLock) -> int | None:
    """The Rails major Heroku's classes would pick (2 to 8), or None for an app that is not Rails."""
    railties = lock.gem_major("railties")
    if railties is not None and 3 <= railties <= 8:
        return railties
    rails = lock.gem_major("rails")
    return 2 if railties is None and rails == 2 else None


def rails_processes(major: int, thin: bool) -> dict[str, str]:
    """Rails2, Rails3 and Rails4's default_process_types, each generation merged over the one before."""
    procs = {**RUBY_PROCESSES,
             "web": ("bundle exec thin start -e $RAILS_ENV -p ${PORT:-5000}" if thin
                     else "bundle exec ruby script/server -p ${PORT:-5000}"),
             "console": "bundle exec script/console"}
    if major >= 3:
        procs["web"] = ("bundle exec thin start -R config.ru -e $RAILS_ENV -p ${PORT:-5000}" if thin
                        else "bundle exec rails server -p ${PORT:-5000}")
        procs["console"] = "bundle exec rails console"
    if major >= 4:
        procs["web"] = "bin/rails server -p ${PORT:-5000} -e $RAILS_ENV"
        procs["console"] = "bin/rails console"
    return procs


def env_defaults(lock: GemfileLock) -> dict[str, str]:
    """Heroku's DefaultEnvVars by locked gem versions (SECRET_KEY_BASE aside: see the README)."""
    env = {"LANG": "en_US.UTF-8", "PUMA_PERSISTENT_TIMEOUT": "95"}
    if lock.has_gem("rack"):
        env["RACK_ENV"] = "production"
    railties = _major_minor(lock.gems.get("railties"))
    if railties is None:
        return env
    env["RAILS_ENV"] = "production"
    if railties >= (4, 2):
        env["RAILS_SERVE_STATIC_FILES"] = "enabled"
    if railties >= (5, 0):
        env["RAILS_LOG_TO_STDOUT"] = "enabled"
    return env


def _major_minor(version: str | None) -> tuple[int, int] | None:
    parts = (version or "").split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None
