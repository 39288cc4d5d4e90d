"""slugbuild: build Heroku slugs from source and release them through the Platform API."""

__version__ = "0.1.0"
USER_AGENT = f"slugbuild/{__version__}"  # one name in every server's logs: the API, blob stores, mirrors
# The header `slugbuild serve` answers with: where it is present, clients may use slugbuild's extensions to
# the Platform API (the SBOM kept with a slug); Heroku never sends it.
SERVE_HEADER = "Slugbuild-Serve"
