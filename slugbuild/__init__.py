"""slugbuild: build Heroku slugs from source and release them through the Platform API."""

__version__ = "0.1.0"
USER_AGENT = f"slugbuild/{__version__}"  # one name in every server's logs: the API, blob stores, mirrors
