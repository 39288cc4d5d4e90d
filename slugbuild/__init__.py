"""slugbuild: build Heroku slugs from source and release them through the Platform API."""

__version__ = "0.1.0"
